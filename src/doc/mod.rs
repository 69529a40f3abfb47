//! The documents inferload writes and reads back: one owned
//! `Serialize + Deserialize` type per document, so the writer and every
//! reader (`inferload report`, `history`, `show`, `diff`, the charts, HTML,
//! CSV and Markdown) agree by construction rather than by convention.
//!
//! - [`run::RunDocument`]: `run --json`, `schema: "inferload/run"`;
//! - [`sweep::SweepDocument`]: `sweep --json`, `schema: "inferload/sweep"`
//!   (settings, levels, verdict);
//! - [`compare::CompareDocument`]: `compare --json`, `schema: "inferload/compare"`;
//! - [`series::Series`]: the bounded chart data a run document carries;
//! - [`server::ColdStart`] and [`server::SettingsSweep`]: a server started
//!   by inferload (`--server-cmd`) and a sweep over settings;
//! - [`stages::StagesSection`]: a load that changed over the run, per stage;
//! - [`record::RecordLine`]: one line of the `--records` JSONL file, also
//!   what the history stores.
//!
//! The run's settings ([`settings::RunSettings`]) are the document's own
//! typed copy of what the run was asked to do, built from the plan by one
//! function ([`settings::RunSettings::of`]); secrets are `"***"` in them and
//! never the value. Every document carries `schema` and `schema_version`,
//! and each has a JSON Schema under `docs/schema/`. Adding a field is
//! compatible; renaming or removing one, or changing its meaning or unit,
//! bumps that document's `schema_version`.
//!
//! Readers are lenient where old files differ (missing optional sections
//! default to empty) and strict where figures are concerned (a run
//! document without a readable `summary` is an error).

use serde::{Deserialize, Serialize};

pub mod compare;
pub mod record;
pub mod run;
pub mod series;
pub mod server;
pub mod settings;
pub mod stages;
pub mod sweep;

pub use compare::CompareDocument;
pub use record::RecordLine;
pub use run::RunDocument;
pub use series::Series;
pub use settings::RunSettings;
pub use sweep::SweepDocument;

/// The program that wrote a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

impl Default for Tool {
    /// This program.
    fn default() -> Self {
        Self {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// Any of the three JSON documents, told apart by content.
#[derive(Debug, Clone)]
pub enum AnyDocument {
    Run(Box<RunDocument>),
    Sweep(Box<SweepDocument>),
    Compare(Box<CompareDocument>),
}

/// What [`AnyDocument::from_value`] found wrong.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Not a document inferload writes (maybe a records line).
    #[error("not an inferload document: expected a run, sweep or compare --json document")]
    Unknown,
    /// The parse error is part of the message, not a source (see
    /// `export::ExportError::Io`).
    #[error("not a {kind} document: {cause}")]
    Invalid {
        kind: &'static str,
        cause: serde_json::Error,
    },
}

impl AnyDocument {
    /// Reads a parsed JSON document: by its `schema` key, or, for files
    /// written before every document had one, by its shape (`kind`,
    /// `levels`, `summary`).
    pub fn from_value(v: serde_json::Value) -> Result<Self, DocumentError> {
        let text = |k: &str| v.get(k).and_then(|s| s.as_str()).map(str::to_owned);
        let kind = match (text("schema").as_deref(), text("kind").as_deref()) {
            (Some(compare::SCHEMA), _) | (_, Some("compare")) => "compare",
            (Some(sweep::SCHEMA), _) | (_, Some("sweep")) => "sweep",
            (Some(run::SCHEMA), _) => "run",
            _ if v.get("levels").is_some() => "sweep",
            _ if v.get("summary").is_some() => "run",
            _ => return Err(DocumentError::Unknown),
        };
        let invalid = |cause| DocumentError::Invalid { kind, cause };
        Ok(match kind {
            "compare" => Self::Compare(Box::new(serde_json::from_value(v).map_err(invalid)?)),
            "sweep" => Self::Sweep(Box::new(serde_json::from_value(v).map_err(invalid)?)),
            _ => Self::Run(Box::new(serde_json::from_value(v).map_err(invalid)?)),
        })
    }
}

/// `Some(value)` when a saved section parses, `None` when it is absent,
/// null, or (from an older writer) of another shape: the section is then
/// shown as not recorded rather than failing the whole document.
pub(crate) fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(v).ok())
}

/// "Run: model @ url", the heading of reports.
pub(crate) fn title(kind: &str, url: Option<&str>, model: Option<&str>) -> String {
    match (model, url) {
        (Some(m), Some(u)) => format!("{kind}: {m} @ {u}"),
        (Some(m), None) => format!("{kind}: {m}"),
        (None, Some(u)) => format!("{kind}: {u}"),
        (None, None) => kind.to_string(),
    }
}

/// A rate with at most 3 decimals, trailing zeros trimmed (`2.5`, `10`).
pub fn fmt_rate(r: f64) -> String {
    let s = format!("{r:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_told_apart_by_schema_or_by_shape() {
        let run = serde_json::to_value(RunDocument::new(Default::default())).unwrap();
        assert!(matches!(AnyDocument::from_value(run.clone()), Ok(AnyDocument::Run(_))));
        // Written before every document had a `schema` key.
        let mut old_run = run;
        old_run.as_object_mut().unwrap().remove("schema");
        assert!(matches!(AnyDocument::from_value(old_run), Ok(AnyDocument::Run(_))));
        let old_sweep = serde_json::json!({"schema_version": 1, "kind": "sweep", "levels": []});
        match AnyDocument::from_value(old_sweep) {
            Ok(AnyDocument::Sweep(s)) => assert_eq!(s.schema, sweep::SCHEMA),
            other => panic!("{other:?}"),
        }
        let compare = serde_json::to_value(CompareDocument::new(None)).unwrap();
        assert!(matches!(AnyDocument::from_value(compare), Ok(AnyDocument::Compare(_))));
        assert!(matches!(
            AnyDocument::from_value(serde_json::json!({"index": 1})),
            Err(DocumentError::Unknown)
        ));
        // A run document whose summary is unreadable is an error, not a default.
        let e = AnyDocument::from_value(serde_json::json!({"schema": "inferload/run", "summary": 3})).unwrap_err();
        assert!(e.to_string().starts_with("not a run document"), "{e}");
    }

    #[test]
    fn settings_of_another_shape_read_as_not_recorded() {
        let mut v = serde_json::to_value(RunDocument::new(Default::default())).unwrap();
        v["settings"] = serde_json::json!({"schedule": "not a schedule"});
        let doc: RunDocument = serde_json::from_value(v).unwrap();
        assert!(doc.settings.is_none());
    }
}
