//! The model's own tokenizer: finding it, and counting and making text with it.
//!
//! Without a tokenizer the client counts one word as one token
//! ([`super::tokens::count_tokens`]), which real models do not: a prompt of
//! 64 random words is about twice that in a BPE's tokens. With one — a
//! Hugging Face `tokenizer.json` — random prompts have exactly the asked
//! number of tokens, file prompts are counted as the model counts them, and
//! a reply without `usage` is counted from its text.
//!
//! `--tokenizer` names a `tokenizer.json` file, a directory holding one (a
//! model folder), or a model id. An id is looked up in the local Hugging
//! Face cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else
//! `~/.cache/huggingface/hub`; `models--ORG--NAME/snapshots/REV/`, REV from
//! `refs/main`), then, unless `HF_HUB_OFFLINE` is set, downloaded from the
//! hub (`HF_ENDPOINT`, else huggingface.co; `HF_TOKEN` sent as a bearer
//! token and never printed) and saved into that cache for the next run.
//! Without `--tokenizer`, `--model`'s name is tried in the cache only (as
//! vLLM's default tokenizer is the model's), and nothing found means the
//! word estimate, as before.
//!
//! Random text is made as vLLM makes it: token ids drawn at random, decoded,
//! re-encoded, and the ids trimmed or topped up until the text encodes to
//! the asked length. Ids are drawn from the ordinary vocabulary only —
//! never special tokens, never a byte fragment that decodes to broken
//! UTF-8 — so a few rounds suffice.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::RngExt;
use serde::Serialize;
use thiserror::Error;

use crate::redact::Secret;

/// Which tokenizer a run asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenizerChoice {
    /// A `tokenizer.json` path, a directory, or a model id.
    pub name: String,
    /// `--tokenizer` named it. False for `--model`'s name, which is tried
    /// in the local cache only and may be missing there.
    pub explicit: bool,
}

/// A tokenizer that cannot be used; each message is one line naming it.
#[derive(Debug, Error)]
pub enum TokenizerError {
    /// The OS cause is in the message (not also the `source`), as for datasets.
    #[error("cannot read tokenizer {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("{path} is not a Hugging Face tokenizer.json: {why}")]
    NotTokenizer { path: String, why: String },
    #[error("tokenizer directory {path} holds no tokenizer.json")]
    NoFileInDir { path: PathBuf },
    #[error(
        "tokenizer `{name}` is neither a file nor a directory, and not in the Hugging Face cache ({cache}); \
         downloads are off (HF_HUB_OFFLINE is set)"
    )]
    NotCached { name: String, cache: PathBuf },
    #[error("tokenizer `{name}` is neither a file nor a directory, and not in the Hugging Face cache ({cache}); cannot download it from {url}: {why}")]
    Download {
        name: String,
        cache: PathBuf,
        url: String,
        why: String,
    },
}

/// Where model ids are found: the local cache, and the hub to download from.
#[derive(Debug, Clone)]
pub struct Hub {
    /// The hub cache (`.../huggingface/hub`).
    pub cache: PathBuf,
    /// The hub's base URL (`https://huggingface.co`).
    pub endpoint: String,
    pub token: Option<Secret>,
    /// No download (`HF_HUB_OFFLINE`).
    pub offline: bool,
}

impl Hub {
    /// The Hugging Face libraries' own variables, read once here.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let cache = var("HF_HUB_CACHE")
            .map(PathBuf::from)
            .or_else(|| var("HF_HOME").map(|h| Path::new(&h).join("hub")))
            .or_else(|| dirs::home_dir().map(|h| h.join(".cache/huggingface/hub")))
            .unwrap_or_else(|| PathBuf::from(".cache/huggingface/hub"));
        Self {
            cache,
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into()),
            token: var("HF_TOKEN").map(Secret::new),
            offline: var("HF_HUB_OFFLINE")
                .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")),
        }
    }
}

/// A loaded tokenizer.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The file it was read from (or the URL it came from).
    source: String,
    /// The ids random text is drawn from (see the module docs).
    draw: Vec<u32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("source", &self.source)
            .field("draw", &self.draw.len())
            .finish()
    }
}

/// Rounds of decode, re-encode and adjust before the closest text is taken.
const MAX_ROUNDS: usize = 16;

impl Tokenizer {
    /// Reads a `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let bytes = std::fs::read(path).map_err(|cause| TokenizerError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        Self::from_bytes(&bytes, &path.display().to_string())
    }

    /// A tokenizer from the bytes of a `tokenizer.json`; `source` names them.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self, TokenizerError> {
        let not = |why: String| TokenizerError::NotTokenizer {
            path: source.to_string(),
            why: why.lines().next().unwrap_or_default().to_string(),
        };
        let inner = tokenizers::Tokenizer::from_bytes(bytes).map_err(|e| not(e.to_string()))?;
        Self::new(inner, source).map_err(not)
    }

    /// Wraps a built tokenizer (`source` names it in the settings).
    pub fn new(inner: tokenizers::Tokenizer, source: &str) -> Result<Self, String> {
        let special = inner.get_added_tokens_decoder();
        let draw: Vec<u32> = (0..inner.get_vocab_size(true) as u32)
            .filter(|id| !special.contains_key(id))
            .filter(|&id| {
                inner
                    .decode(&[id], true)
                    .is_ok_and(|t| !t.trim().is_empty() && !t.contains('\u{FFFD}') && !t.chars().any(char::is_control))
            })
            .collect();
        if draw.is_empty() {
            return Err("its vocabulary has no ordinary token".into());
        }
        Ok(Self {
            inner,
            source: source.to_string(),
            draw,
        })
    }

    /// Where it was read from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The tokens of `text`, without the special tokens a model adds
    /// around a whole input (BOS, chat templates).
    pub fn count(&self, text: &str) -> u64 {
        match self.inner.encode_fast(text, false) {
            Ok(e) => e.len() as u64,
            Err(_) => super::tokens::count_tokens(text),
        }
    }

    fn ids(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, true).unwrap_or_default()
    }

    fn draw(&self, rng: &mut StdRng, n: usize, into: &mut Vec<u32>) {
        into.extend((0..n).map(|_| self.draw[rng.random_range(0..self.draw.len())]));
    }

    /// Random text of `want` tokens: alone when `lead` is empty, else to be
    /// appended to `lead` (which it then starts with a space), so that
    /// `lead + text` is `lead_tokens + want` tokens. Returns the text and
    /// the tokens it adds; that is `want` unless no round hit it (then the
    /// closest seen, still counted exactly).
    pub fn random_text(&self, rng: &mut StdRng, lead: &str, lead_tokens: u64, want: u64) -> (String, u64) {
        let sep = if lead.is_empty() { "" } else { " " };
        // After a lead, the tokens it adds where it joins the lead.
        let measure = |piece: &str| self.count(&format!("{lead}{sep}{piece}")).saturating_sub(lead_tokens);
        let mut ids = Vec::with_capacity(want as usize + 8);
        self.draw(rng, want as usize, &mut ids);
        let mut best: Option<(u64, String, u64)> = None;
        for _ in 0..MAX_ROUNDS {
            let piece = self.decode(&ids);
            // One encoding serves both the count (alone) and the next ids.
            let mut next = self.ids(&piece);
            let got = if lead.is_empty() {
                next.len() as u64
            } else {
                measure(&piece)
            };
            if got == want {
                return (format!("{sep}{piece}"), got);
            }
            let miss = got.abs_diff(want);
            if got > want {
                next.truncate(next.len().saturating_sub((got - want) as usize));
            } else {
                // Drawn ids merge when re-encoded (a text of N random ids is
                // fewer tokens): top up by the shrink this round saw, so the
                // length lands in about two rounds, not one per shrink.
                let kept = (next.len() as f64 / ids.len().max(1) as f64).clamp(0.25, 1.0);
                let more = ((want - got) as f64 / kept).ceil() as usize;
                self.draw(rng, more, &mut next);
            }
            if best.as_ref().is_none_or(|(m, _, _)| miss < *m) {
                best = Some((miss, piece, got));
            }
            ids = next;
        }
        let (_, piece, got) = best.unwrap_or_default();
        (format!("{sep}{piece}"), got)
    }
}

/// Finds and reads the chosen tokenizer. `Ok(None)`: `--model`'s name
/// (not an explicit `--tokenizer`) is not in the cache.
pub async fn open(choice: &TokenizerChoice, hub: &Hub) -> Result<Option<Tokenizer>, TokenizerError> {
    let path = Path::new(&choice.name);
    if path.is_file() {
        return Tokenizer::from_file(path).map(Some);
    }
    if path.is_dir() {
        let file = path.join("tokenizer.json");
        if !file.is_file() {
            return Err(TokenizerError::NoFileInDir {
                path: path.to_path_buf(),
            });
        }
        return Tokenizer::from_file(&file).map(Some);
    }
    if !is_model_id(&choice.name) {
        if !choice.explicit {
            return Ok(None);
        }
        // What reading it says (no such file, permission denied).
        return Tokenizer::from_file(path).map(Some);
    }
    if let Some(file) = cached(&hub.cache, &choice.name) {
        return Tokenizer::from_file(&file).map(Some);
    }
    if !choice.explicit {
        return Ok(None);
    }
    if hub.offline {
        return Err(TokenizerError::NotCached {
            name: choice.name.clone(),
            cache: hub.cache.clone(),
        });
    }
    download(&choice.name, hub).await.map(Some)
}

/// `NAME` or `ORG/NAME`, of the characters the hub allows; not a path.
pub fn is_model_id(s: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with(['.', '-'])
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let parts: Vec<&str> = s.split('/').collect();
    parts.len() <= 2 && parts.iter().all(|p| ok(p)) && !s.ends_with(".json")
}

fn repo_dir(cache: &Path, id: &str) -> PathBuf {
    cache.join(format!("models--{}", id.replace('/', "--")))
}

/// The cached `tokenizer.json` of a model id: `refs/main`'s snapshot, else
/// any snapshot holding one (a cache filled at a pinned revision).
pub fn cached(cache: &Path, id: &str) -> Option<PathBuf> {
    let repo = repo_dir(cache, id);
    let snapshots = repo.join("snapshots");
    if let Ok(rev) = std::fs::read_to_string(repo.join("refs").join("main")) {
        let file = snapshots.join(rev.trim()).join("tokenizer.json");
        if file.is_file() {
            return Some(file);
        }
    }
    let mut revs: Vec<PathBuf> = std::fs::read_dir(&snapshots)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("tokenizer.json")))
        .filter(|f| f.is_file())
        .collect();
    revs.sort();
    revs.into_iter().next()
}

/// Downloads `tokenizer.json` of model `id` and saves it into the cache
/// (a cache that cannot be written is said in one warning line; the run
/// goes on with the tokenizer in memory).
async fn download(id: &str, hub: &Hub) -> Result<Tokenizer, TokenizerError> {
    let url = format!(
        "{}/{id}/resolve/main/tokenizer.json",
        hub.endpoint.trim_end_matches('/')
    );
    let fail = |why: String| TokenizerError::Download {
        name: id.to_string(),
        cache: hub.cache.clone(),
        url: url.clone(),
        why,
    };
    // reqwest is built without a crypto provider of its own (Cargo.toml).
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .user_agent(concat!("inferload/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| fail(one_line(&e)))?;
    let mut request = client.get(&url);
    if let Some(token) = &hub.token {
        request = request.bearer_auth(token.expose());
    }
    let resp = request.send().await.map_err(|e| fail(one_line(&e)))?;
    let status = resp.status();
    if !status.is_success() {
        let why = match status.as_u16() {
            401 | 403 => format!(
                "HTTP {}: the model is gated or private; set HF_TOKEN to a token that may read it",
                status.as_u16()
            ),
            404 => "HTTP 404: no such model, or it has no tokenizer.json".into(),
            s => format!("HTTP {s}"),
        };
        return Err(fail(why));
    }
    let revision = resp
        .headers()
        .get("x-repo-commit")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_hexdigit()))
        .unwrap_or("main")
        .to_string();
    let bytes = resp.bytes().await.map_err(|e| fail(one_line(&e)))?;
    let mut tokenizer = Tokenizer::from_bytes(&bytes, &url)?;
    match save(&hub.cache, id, &revision, &bytes) {
        Ok(file) => tokenizer.source = file.display().to_string(),
        Err(e) => eprintln!(
            "warning: cannot save the tokenizer of `{id}` into the Hugging Face cache {}: {e}",
            hub.cache.display()
        ),
    }
    Ok(tokenizer)
}

/// Writes the file where the hub's own libraries would (and the next run
/// finds it): `snapshots/REV/tokenizer.json` and `refs/main`.
fn save(cache: &Path, id: &str, revision: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let repo = repo_dir(cache, id);
    let dir = repo.join("snapshots").join(revision);
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all(repo.join("refs"))?;
    let file = dir.join("tokenizer.json");
    // Written aside then renamed: a concurrent run never reads half a file.
    let part = dir.join(format!("tokenizer.json.{}.part", std::process::id()));
    std::fs::write(&part, bytes)?;
    std::fs::rename(&part, &file)?;
    std::fs::write(repo.join("refs").join("main"), revision)?;
    Ok(file)
}

/// An error and its causes on one line.
fn one_line(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out.replace('\n', " ")
}

/// Tokenizers built in code, for tests and the benchmark (no network, no
/// committed file): the same kinds of model a real `tokenizer.json` holds.
pub mod testing {
    use tokenizers::models::bpe::{BpeTrainer, BPE};
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
    use tokenizers::{AddedToken, TokenizerBuilder};

    /// A byte-level BPE (GPT-2 and Llama 3's kind) trained on text made
    /// from the built-in word list with `vocab` tokens at most; `<s>` is a
    /// special token.
    pub fn byte_level_bpe(vocab: usize) -> tokenizers::Tokenizer {
        let mut trainer = BpeTrainer::builder()
            .vocab_size(vocab)
            .min_frequency(1)
            .show_progress(false)
            .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
            .special_tokens(vec![AddedToken::from("<s>", true)])
            .build();
        let mut tk = TokenizerBuilder::<BPE, _, _, _, _>::new()
            .with_model(BPE::default())
            .with_pre_tokenizer(Some(ByteLevel::default()))
            .with_decoder(Some(ByteLevel::default()))
            .with_normalizer(None::<tokenizers::NormalizerWrapper>)
            .with_post_processor(None::<tokenizers::PostProcessorWrapper>)
            .build()
            .expect("a BPE tokenizer");
        let words = super::super::words::WORDS;
        let n = words.len();
        // Words, glued pairs and triples, punctuation and numbers: enough
        // distinct pieces (two lines a token) for merges up to `vocab`.
        let lines: Vec<String> = (0..(2 * vocab).max(n))
            .map(|i| {
                let (a, b, c) = (words[i % n], words[(i * 7 + i / n + 3) % n], words[(i * 13 + 5) % n]);
                format!("{a} {b}, {c}{a}. {b}-{c}? {a}{b}{c} {i}")
            })
            .collect();
        tk.train(&mut trainer, lines.iter()).expect("training");
        let mut tk: tokenizers::Tokenizer = tk.into();
        tk.add_special_tokens(&[AddedToken::from("<s>", true)]);
        tk
    }

    /// A word-level tokenizer: each listed word one token, split on white
    /// space, anything else `<unk>`.
    pub fn word_level(words: &[&str]) -> tokenizers::Tokenizer {
        let mut vocab: std::collections::HashMap<String, u32> = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i as u32 + 1))
            .collect();
        vocab.insert("<unk>".into(), 0);
        let model = WordLevel::builder()
            .vocab(vocab.into_iter().collect())
            .unk_token("<unk>".into())
            .build()
            .expect("a word-level model");
        let mut tk = tokenizers::Tokenizer::new(model);
        tk.with_pre_tokenizer(Some(WhitespaceSplit));
        tk.with_decoder(Some(tokenizers::decoders::wordpiece::WordPiece::default()));
        tk
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::sync::OnceLock;

    /// One trained BPE for every test (training takes a moment).
    fn bpe() -> &'static Tokenizer {
        static BPE: OnceLock<Tokenizer> = OnceLock::new();
        BPE.get_or_init(|| Tokenizer::new(testing::byte_level_bpe(2_000), "test-bpe").unwrap())
    }

    fn hub(cache: &Path, endpoint: &str, offline: bool) -> Hub {
        Hub {
            cache: cache.to_path_buf(),
            endpoint: endpoint.to_string(),
            token: Some(Secret::new("hf_secret_token")),
            offline,
        }
    }

    fn choice(name: impl Into<String>, explicit: bool) -> TokenizerChoice {
        TokenizerChoice {
            name: name.into(),
            explicit,
        }
    }

    fn saved(dir: &Path) -> PathBuf {
        let file = dir.join("tokenizer.json");
        testing::byte_level_bpe(300).save(&file, false).unwrap();
        file
    }

    #[test]
    fn random_text_has_exactly_the_asked_tokens() {
        let tok = bpe();
        for (seed, want) in [(1u64, 1u64), (2, 7), (3, 64), (4, 300), (5, 1024)] {
            let mut rng = StdRng::seed_from_u64(seed);
            let (text, got) = tok.random_text(&mut rng, "", 0, want);
            assert_eq!(got, want, "{text:?}");
            assert_eq!(tok.count(&text), want, "{text:?}");
        }
        // After a lead: the lead and the text together.
        let mut rng = StdRng::seed_from_u64(9);
        let (lead, n) = tok.random_text(&mut rng, "", 0, 40);
        for want in [1, 5, 100] {
            let (text, got) = tok.random_text(&mut rng, &lead, n, want);
            assert_eq!(got, want);
            assert_eq!(tok.count(&format!("{lead}{text}")), n + want);
        }
    }

    #[test]
    fn special_tokens_and_byte_fragments_are_never_drawn() {
        let tok = bpe();
        let special = tok.inner.get_added_tokens_decoder();
        assert!(!special.is_empty(), "the test tokenizer has a special token");
        assert!(tok.draw.iter().all(|id| !special.contains_key(id)));
        let mut rng = StdRng::seed_from_u64(3);
        let (text, _) = tok.random_text(&mut rng, "", 0, 500);
        assert!(!text.contains("<s>") && !text.contains('\u{FFFD}'), "{text}");
    }

    #[test]
    fn counting_is_the_tokenizers_and_adds_no_special_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let words = ["hello", "world"];
        let wl = Tokenizer::new(testing::word_level(&words), "wl").unwrap();
        assert_eq!(wl.count("hello world hello"), 3);
        assert_eq!(wl.count(""), 0);
        let file = dir.path().join("wl.json");
        testing::word_level(&words).save(&file, false).unwrap();
        assert_eq!(Tokenizer::from_file(&file).unwrap().count("world   hello"), 2);
    }

    #[tokio::test]
    async fn a_file_or_a_model_directory_opens() {
        let dir = tempfile::tempdir().unwrap();
        let file = saved(dir.path());
        let h = hub(dir.path(), "http://127.0.0.1:9", true);
        for name in [file.display().to_string(), dir.path().display().to_string()] {
            let t = open(&choice(&name, true), &h).await.unwrap().unwrap();
            assert_eq!(t.source(), file.display().to_string());
        }
    }

    #[tokio::test]
    async fn every_bad_tokenizer_is_one_clear_line() {
        let dir = tempfile::tempdir().unwrap();
        let h = hub(&dir.path().join("cache"), "http://127.0.0.1:9", true);
        let missing = dir.path().join("nope/tokenizer.json");
        let junk = dir.path().join("junk.json");
        std::fs::write(&junk, "{\"not\": \"a tokenizer\"}").unwrap();
        let empty_dir = dir.path().join("model");
        std::fs::create_dir(&empty_dir).unwrap();
        let unreadable_cause = std::fs::read(&missing).unwrap_err().to_string();
        for (name, want) in [
            (
                missing.display().to_string(),
                format!("cannot read tokenizer {}: {unreadable_cause}", missing.display()),
            ),
            (
                junk.display().to_string(),
                format!("{} is not a Hugging Face tokenizer.json: ", junk.display()),
            ),
            (
                empty_dir.display().to_string(),
                format!("tokenizer directory {} holds no tokenizer.json", empty_dir.display()),
            ),
            (
                "org/not-cached".to_string(),
                "tokenizer `org/not-cached` is neither a file nor a directory, and not in the Hugging Face cache"
                    .to_string(),
            ),
        ] {
            let err = open(&choice(&name, true), &h).await.unwrap_err().to_string();
            assert!(err.starts_with(&want), "`{err}` should start with `{want}`");
            assert!(!err.contains('\n'), "{err}");
        }
        let err = open(&choice("org/not-cached", true), &h).await.unwrap_err().to_string();
        assert!(err.ends_with("downloads are off (HF_HUB_OFFLINE is set)"), "{err}");
        // `--model`'s name is only tried: not cached is no error.
        assert!(open(&choice("org/not-cached", false), &h).await.unwrap().is_none());
        assert!(open(&choice("./no/such/dir", false), &h).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_model_id_not_cached_without_a_reachable_hub_fails_in_one_line() {
        let dir = tempfile::tempdir().unwrap();
        // A port nothing listens on: the hub is unreachable (no network).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let endpoint = format!("http://127.0.0.1:{port}");
        let h = hub(dir.path(), &endpoint, false);
        let err = open(&choice("org/model", true), &h).await.unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "cannot download it from {endpoint}/org/model/resolve/main/tokenizer.json: "
            )),
            "{err}"
        );
        assert!(!err.contains('\n') && !err.contains("hf_secret_token"), "{err}");
    }

    #[tokio::test]
    async fn a_cached_model_id_opens_from_its_snapshot() {
        let cache = tempfile::tempdir().unwrap();
        let repo = cache.path().join("models--org--model");
        let snap = repo.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        let file = saved(&snap);
        std::fs::write(repo.join("refs/main"), "abc123").unwrap();
        let h = hub(cache.path(), "http://127.0.0.1:9", true);
        for explicit in [true, false] {
            let t = open(&choice("org/model", explicit), &h).await.unwrap().unwrap();
            assert_eq!(t.source(), file.display().to_string());
        }
        // Without refs/main, any snapshot holding one.
        std::fs::remove_file(repo.join("refs/main")).unwrap();
        assert_eq!(cached(cache.path(), "org/model"), Some(file));
    }

    /// A hub on 127.0.0.1 serving one model's tokenizer.json to a bearer
    /// token: the download is used, saved where the next run finds it, and
    /// a refusal says what to do.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_model_id_downloads_into_the_cache() {
        use axum::http::{HeaderMap, StatusCode};
        use axum::response::IntoResponse;
        let body = testing::byte_level_bpe(300).to_string(false).unwrap();
        let app = axum::Router::new().route(
            "/{org}/{name}/resolve/main/tokenizer.json",
            axum::routing::get(move |headers: HeaderMap| {
                let body = body.clone();
                async move {
                    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
                    if auth != Some("Bearer hf_secret_token") {
                        return StatusCode::UNAUTHORIZED.into_response();
                    }
                    ([("x-repo-commit", "0123abcd")], body).into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let cache = tempfile::tempdir().unwrap();
        let h = hub(cache.path(), &endpoint, false);
        let t = open(&choice("org/model", true), &h).await.unwrap().unwrap();
        let file = cache
            .path()
            .join("models--org--model/snapshots/0123abcd/tokenizer.json");
        assert_eq!(t.source(), file.display().to_string());
        assert_eq!(cached(cache.path(), "org/model"), Some(file));
        assert!(t.count("the model serves") > 0);

        let mut no_token = hub(&cache.path().join("other"), &endpoint, false);
        no_token.token = None;
        let err = open(&choice("org/model", true), &no_token)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("HTTP 401: the model is gated or private; set HF_TOKEN to a token that may read it"),
            "{err}"
        );
    }

    #[test]
    fn model_ids_are_told_from_paths() {
        for id in ["gpt2", "meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-0.5B"] {
            assert!(is_model_id(id), "{id}");
        }
        for path in ["./gpt2", "/models/x", "a/b/c", "tok.json", "../x", "a b"] {
            assert!(!is_model_id(path), "{path}");
        }
    }
}
