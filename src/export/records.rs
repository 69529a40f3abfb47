//! Streams records to a JSONL file as each request finishes (stub).

use std::path::Path;

use crate::record::RequestRecord;

use super::ExportError;

pub struct RecordsWriter;

impl RecordsWriter {
    pub fn create(_path: &Path) -> Result<Self, ExportError> {
        Ok(Self)
    }

    pub fn write(&mut self, _rec: &RequestRecord) -> Result<(), ExportError> {
        Ok(())
    }
}
