//! Simulated OneAgent Unix installers: a POSIX `sh` script that installs a fake `oneagentctl`,
//! signed like Dynatrace's (detached S/MIME, section 4 of dynatrace-api.md) by dtsim's CA, and
//! optionally padded to a realistic size. Large installers are never held in memory: the
//! signature digest is computed in one streaming pass and the bytes are regenerated per request.

mod body;
mod ca;
mod script;
mod sign;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub use ca::Ca;

/// The versions every simulated environment serves, oldest first.
pub const VERSIONS: [&str; 3] = [
    "1.299.40.20250908-101500",
    "1.301.55.20260114-153010",
    "1.303.12.20260310-090000",
];

/// How the installer is spoiled (or not).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Correctly signed by dtsim's CA, installs.
    Normal,
    /// One payload byte changed after signing.
    BadSignature,
    /// Signed by a CA that is not dtsim's.
    OtherCa,
    /// Correctly signed; running it prints an error and exits with this code (1..=255).
    Fails(i32),
    /// Correctly signed; running it never returns.
    Hangs,
}

/// Everything that determines an installer's bytes (the cache key). `Debug` hides the token.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InstallerParams {
    pub environment: String,
    pub version: String,
    pub arch: String,
    pub tenant_uuid: String,
    pub tenant_token: String,
    /// Communication endpoints, `;`-separated.
    pub endpoints: String,
    pub variant: Variant,
    /// Approximate total size in bytes; `None` = just the script (a few KiB).
    pub pad_to: Option<u64>,
}

impl std::fmt::Debug for InstallerParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstallerParams")
            .field("environment", &self.environment)
            .field("version", &self.version)
            .field("arch", &self.arch)
            .field("tenant_uuid", &self.tenant_uuid)
            .field("tenant_token", &"<redacted>")
            .field("endpoints", &self.endpoints)
            .field("variant", &self.variant)
            .field("pad_to", &self.pad_to)
            .finish()
    }
}

/// A signed installer, ready to be streamed any number of times.
#[derive(Debug)]
pub struct Installer {
    body: body::Body,
    etag: String,
}

impl Installer {
    /// Exact size in bytes of what `stream()` yields.
    pub fn len(&self) -> u64 {
        self.body.len()
    }

    /// Never true (an installer always has a script); here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Quoted strong entity tag, stable for this installer's content.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// The installer's bytes in chunks of about 64 KiB, generated on the fly.
    pub fn stream(
        self: &Arc<Self>,
    ) -> impl futures_util::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static
    {
        let me = Arc::clone(self);
        let mut pos = 0u64;
        futures_util::stream::iter(std::iter::from_fn(move || {
            let chunk = me.body.chunk_at(pos)?;
            pos += chunk.len() as u64;
            Some(Ok(chunk))
        }))
    }

    /// The whole installer in memory (tests and small installers only).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        let mut pos = 0u64;
        while let Some(chunk) = self.body.chunk_at(pos) {
            pos += chunk.len() as u64;
            out.extend_from_slice(&chunk);
        }
        out
    }
}

/// Builds installers on demand and caches them by parameters.
pub struct Factory {
    ca: Arc<Ca>,
    other_ca: OnceLock<Arc<Ca>>,
    cache: Mutex<HashMap<InstallerParams, Arc<Installer>>>,
}

impl Factory {
    /// Cheap: no key generation or signing happens before the first `get`.
    pub fn new(ca: Arc<Ca>) -> anyhow::Result<Factory> {
        Ok(Factory {
            ca,
            other_ca: OnceLock::new(),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The CA whose signer signs the installers of `variant`.
    fn ca_for(&self, variant: &Variant) -> anyhow::Result<Arc<Ca>> {
        if *variant != Variant::OtherCa {
            return Ok(Arc::clone(&self.ca));
        }
        if let Some(ca) = self.other_ca.get() {
            return Ok(Arc::clone(ca));
        }
        let ca = Arc::new(Ca::generate("Unrelated Root CA (not dtsim's)")?);
        Ok(Arc::clone(self.other_ca.get_or_init(|| ca)))
    }

    /// The installer for `p`, built and signed on first use (blocking: a 256 MiB installer
    /// takes a second or two), then served from the cache.
    pub fn get(&self, p: &InstallerParams) -> anyhow::Result<Arc<Installer>> {
        if let Some(hit) = self.lock_cache().get(p) {
            return Ok(Arc::clone(hit));
        }
        let ca = self.ca_for(&p.variant)?;
        let built = Arc::new(build(p, &ca)?);
        // Two concurrent first requests may both build; keep whichever landed first so every
        // client sees the same ETag.
        let mut cache = self.lock_cache();
        Ok(Arc::clone(cache.entry(p.clone()).or_insert(built)))
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<InstallerParams, Arc<Installer>>> {
        // A panic while holding the lock cannot leave the map inconsistent (single insert).
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn build(p: &InstallerParams, ca: &Ca) -> anyhow::Result<Installer> {
    let text = script::render(p)?;
    let layout = body::Layout::new(text, p.pad_to)?;
    let digest = layout.signed_digest();
    let tail = sign::smime_tail(&digest, ca.signer())?;
    let flip = match p.variant {
        Variant::BadSignature => Some(layout.flip_offset()),
        _ => None,
    };
    let body = body::Body::new(layout, tail, flip);
    // The token is part of the content (embedded in the script); hash it, never print it.
    let key = format!("{p:?}\0{}", p.tenant_token);
    let etag = body.etag(&key);
    Ok(Installer { body, etag })
}
