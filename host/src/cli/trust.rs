//! `synchost plugin trust SOURCE`, `plugin sign FILE --key KEY` and
//! `plugin keygen --out PREFIX`: accepting a changed plugin into the lock
//! file, and signing plugin files (see [`crate::trust`]).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use sha2::{Digest, Sha256};

use super::Global;
use crate::error::{failed, usage};
use crate::runtime::Runtime;
use crate::sync::session::{check_manifest, describe_offline};
use crate::trust::signature::{sig_path, SecretKey};
use crate::trust::Lock;
use crate::untrusted::Untrusted;

#[derive(Debug, Args)]
pub struct TrustArgs {
    /// The configured source whose plugin file is accepted as it is now.
    source: String,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The plugin (.wasm component); the signature goes to FILE.sig.
    file: PathBuf,
    /// The secret key file (`synchost plugin keygen` writes one).
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Writes PREFIX.key (secret, readable by you only) and PREFIX.pub.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
}

/// Records the source's plugin file as it is now in the lock file, after
/// showing what changed from the recorded one. The file must still pass
/// the config's pin and signature rules: only the lock is set aside.
pub async fn trust(global: &Global, args: TrustArgs) -> Result<()> {
    let config = global.config()?;
    let mut source = config.source_without_credential(&args.source)?;
    let lock_path = source
        .trust
        .lock
        .take()
        .ok_or_else(|| failed(format!("source `{}` has no lock file", source.name)))?;
    let runtime = Runtime::new(Runtime::default_cache_dir())?;
    let plugin = runtime.load_source(&source)?;
    let manifest = describe_offline(&plugin, &source.name, &source.limits).await?;
    check_manifest(&format!("source `{}`", source.name), &manifest)?;
    let entry = crate::sync::pin::entry(&source, &plugin, &manifest);
    let name = &source.name;
    let now = format!(
        "sha256 {} ({} {})",
        entry.sha256,
        Untrusted::clipped(&entry.name, 64),
        Untrusted::clipped(&entry.version, 64)
    );
    let lock = Lock::read(&lock_path)?;
    match lock.sources.get(name) {
        Some(old) if old.sha256 == entry.sha256 => {
            println!(
                "source `{name}`: plugin {} is already the trusted one: {now}",
                source.plugin.display()
            );
            return Ok(());
        }
        Some(old) => {
            println!("source `{name}`: plugin {}", source.plugin.display());
            println!(
                "  was: sha256 {} ({} {}, recorded {})",
                old.sha256,
                Untrusted::clipped(&old.name, 64),
                Untrusted::clipped(&old.version, 64),
                Untrusted::clipped(&old.recorded_at, 64)
            );
            println!("  now: {now}");
            let changes = old.changes(&entry);
            if changes.is_empty() {
                println!("changes: none in its version, contract, imports or manifest");
            } else {
                println!("changes:");
                for change in changes {
                    println!("  {change}");
                }
            }
        }
        None => println!(
            "source `{name}`: plugin {} had no entry: {now}",
            source.plugin.display()
        ),
    }
    Lock::record(&lock_path, name, entry)?;
    println!("trusted: recorded in {}", lock_path.display());
    Ok(())
}

/// Writes `FILE.sig`: the file's sha256 signed with the key.
pub fn sign(args: SignArgs) -> Result<()> {
    let key_text = read_small(&args.key, 4096)
        .map_err(|why| usage(format!("key {}: {why}", args.key.display())))?;
    let key = SecretKey::parse(&key_text)
        .map_err(|why| usage(format!("key {}: {why}", args.key.display())))?;
    let bytes = std::fs::read(&args.file)
        .map_err(|err| usage(format!("plugin {}: {err}", args.file.display())))?;
    if !bytes.starts_with(b"\0asm") {
        return Err(usage(format!(
            "plugin {} is not a WebAssembly file",
            args.file.display()
        )));
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let target = sig_path(&args.file);
    std::fs::write(&target, key.sign(&sha256))
        .map_err(|err| failed(format!("cannot write {}: {err}", target.display())))?;
    println!(
        "signed {} (sha256 {sha256}) with key {}: {}",
        args.file.display(),
        key.public().id(),
        target.display()
    );
    Ok(())
}

/// Writes a new key pair: PREFIX.key (mode 0600, never overwritten) and
/// PREFIX.pub, and prints the public key for `[trust] keys`.
pub fn keygen(args: KeygenArgs) -> Result<()> {
    let secret_path = with_suffix(&args.out, ".key");
    let public_path = with_suffix(&args.out, ".pub");
    let key = SecretKey::generate();
    let public = key.public();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&secret_path).map_err(|err| {
        usage(format!(
            "cannot create {}: {err} (an existing key is never overwritten)",
            secret_path.display()
        ))
    })?;
    file.write_all(key.encoded().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|err| failed(format!("cannot write {}: {err}", secret_path.display())))?;
    std::fs::write(&public_path, format!("{public}\n"))
        .map_err(|err| failed(format!("cannot write {}: {err}", public_path.display())))?;
    println!(
        "secret key: {} (keep it off the machines that run plugins)",
        secret_path.display()
    );
    println!(
        "public key: {} (key id {})",
        public_path.display(),
        public.id()
    );
    println!("trust it in synchost.toml:\n  [trust]\n  keys = [\"{public}\"]");
    Ok(())
}

fn with_suffix(prefix: &Path, suffix: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A small text file, refused past `max` bytes.
fn read_small(path: &Path, max: u64) -> std::result::Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|err| err.to_string())?;
    let mut text = String::new();
    file.take(max + 1)
        .read_to_string(&mut text)
        .map_err(|err| err.to_string())?;
    if text.len() as u64 > max {
        return Err(format!("is over {max} bytes: not a key file"));
    }
    Ok(text)
}
