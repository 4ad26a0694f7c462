//! Compile once, keep the artifact on disk, load it with `deserialize_file` afterwards.
//!
//! An artifact is named by the sha256 of the wasm plus a hash of the engine's precompile
//! compatibility (wasmtime version, target, every setting that changes code), so a different
//! engine never picks up an artifact it cannot run. Next to each artifact lies the sha256 of
//! its bytes; an artifact whose bytes do not match, or that wasmtime refuses, is recompiled and
//! replaced, never trusted. Writes go to a temporary file that is renamed into place.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where a loaded component came from; reported for logs and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactSource {
    /// Compiled now, no cache configured.
    Compiled,
    /// Compiled now and written to the cache.
    CompiledAndCached,
    /// Loaded from a verified artifact in the cache.
    Cache,
    /// The cached artifact was corrupt or incompatible; compiled again and replaced.
    Recompiled,
}

/// A directory of precompiled artifacts for one engine.
pub(crate) struct CompileCache {
    dir: PathBuf,
    engine_key: String,
}

impl CompileCache {
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            engine_key: engine_key(engine),
        })
    }

    /// Loads the component for `wasm` (whose sha256 is `digest`) from the cache, or compiles
    /// it with `compile` and stores it. Cache I/O failures are logged and fall back to compiling:
    /// a broken cache slows a load down, it never fails it.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        digest: &str,
        wasm: &[u8],
        compile: impl FnOnce(&[u8]) -> wasmtime::Result<Component>,
    ) -> wasmtime::Result<(Component, ArtifactSource)> {
        let artifact = self.dir.join(format!("{digest}-{}.cwasm", self.engine_key));
        let checksum = artifact.with_extension("cwasm.sha256");
        let mut source = ArtifactSource::CompiledAndCached;
        if artifact.exists() {
            match verified_deserialize(engine, &artifact, &checksum) {
                Ok(component) => return Ok((component, ArtifactSource::Cache)),
                Err(reason) => {
                    tracing::warn!(artifact = %artifact.display(), %reason, "recompiling a cached artifact");
                    source = ArtifactSource::Recompiled;
                }
            }
        }
        let component = compile(wasm)?;
        let stored = component
            .serialize()
            .map_err(|error| io::Error::other(format!("{error:#}")))
            .and_then(|bytes| store(&artifact, &checksum, &bytes));
        if let Err(error) = stored {
            tracing::warn!(artifact = %artifact.display(), %error, "cannot write to the compile cache");
            source = ArtifactSource::Compiled;
        }
        Ok((component, source))
    }
}

/// Reads the artifact, checks it against its recorded sha256, then maps it.
fn verified_deserialize(
    engine: &Engine,
    artifact: &Path,
    checksum: &Path,
) -> Result<Component, String> {
    let expected = fs::read_to_string(checksum).map_err(|error| format!("no checksum: {error}"))?;
    let actual = sha256_file(artifact).map_err(|error| format!("unreadable: {error}"))?;
    if expected.trim() != actual {
        return Err(format!(
            "checksum mismatch: recorded {}, found {actual}",
            expected.trim()
        ));
    }
    // SAFETY: wasmtime requires that a deserialized artifact was produced by `serialize` of a
    // compatible engine and not altered since. This cache wrote it with this engine (its name
    // carries the engine's compatibility hash, and wasmtime re-checks compatibility), and its
    // bytes were just verified against the sha256 recorded when it was written.
    #[allow(
        unsafe_code,
        reason = "mapping a precompiled artifact is unsafe in wasmtime"
    )]
    let component = unsafe { Component::deserialize_file(engine, artifact) };
    component.map_err(|error| format!("refused by wasmtime: {error:#}"))
}

fn store(artifact: &Path, checksum: &Path, bytes: &[u8]) -> io::Result<()> {
    // Artifact first, checksum second: a crash in between leaves an artifact without a
    // checksum, which is recompiled.
    write_atomically(artifact, bytes)?;
    write_atomically(checksum, hex::encode(Sha256::digest(bytes)).as_bytes())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, path)
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..read]);
    }
}

/// A stable name for the engine's precompile compatibility: the first 16 hex digits of the
/// sha256 of what its compatibility hash feeds a hasher.
fn engine_key(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(&hasher.0.finalize()[..8])
}

/// Feeds `Hash` output into sha256, which (unlike `DefaultHasher`) is stable across Rust
/// releases and processes.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ])
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}
