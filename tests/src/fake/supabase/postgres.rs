//! A throwaway PostgreSQL server: `initdb` and `postgres` from PATH or
//! Debian's `/usr/lib/postgresql/*/bin`, in a fresh directory under the
//! system temp dir, listening on a free port of 127.0.0.1 only (no unix
//! sockets), tuned for tests (`-A trust`, `--no-sync`, `fsync=off`,
//! `timezone=UTC`).
//!
//! PostgreSQL refuses to run as root: then both run as `nobody` (an existing
//! account, so nothing is added to the system), in a directory owned by it.
//!
//! Cleanup: [`Throwaway`]'s `Drop` stops the server (fast shutdown) and
//! removes the directory; the fake drops it on normal exit, on errors and on
//! SIGTERM/SIGINT. For SIGKILL a watchdog (`sh`, in its own process group,
//! its stdin a pipe whose only writer is the fake) wakes up when the pipe
//! closes, i.e. when the fake is gone however it died, sends the postmaster
//! SIGQUIT (immediate shutdown) and removes the directory. The server and
//! the watchdog have their own process group, so a terminal's Ctrl-C reaches
//! only the fake, which cleans up.

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The account PostgreSQL runs as when the fake runs as root.
pub const UNPRIVILEGED_USER: &str = "nobody";
/// The superuser `initdb` creates, which the fake connects as.
pub const SUPERUSER: &str = "postgres";

/// The watchdog: waits for end of file on stdin (the fake gone), then stops
/// the postmaster named in `$1/data/postmaster.pid` and removes `$1`.
const WATCHDOG: &str = r#"cat >/dev/null
pidfile="$1/data/postmaster.pid"
if [ -f "$pidfile" ]; then
  pid=$(head -n 1 "$pidfile")
  kill -QUIT "$pid" 2>/dev/null
  i=0
  while [ -f "$pidfile" ] && kill -0 "$pid" 2>/dev/null && [ "$i" -lt 200 ]; do
    sleep 0.05; i=$((i + 1))
  done
  kill -KILL "$pid" 2>/dev/null
fi
rm -rf "$1"
"#;

/// A running throwaway server; stopped and removed on drop.
pub struct Throwaway {
    dir: PathBuf,
    postmaster: Child,
    /// Kept for its stdin: dropping it (or dying) wakes the watchdog.
    _watchdog: Child,
    pub port: u16,
    pub user: String,
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// The directory holding `initdb` and `postgres`: PATH first, then the
/// newest `/usr/lib/postgresql/*/bin`.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_both = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    let from_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    if let Some(d) = from_path.into_iter().find(|d| has_both(d)) {
        return Some(d);
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_both(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, d)| d)
}

/// (uid, gid) of `name`.
fn lookup_user(name: &str) -> io::Result<(u32, u32)> {
    let c = CString::new(name).map_err(|_| err("bad user name"))?;
    // SAFETY: getpwnam with a valid C string; the result is read at once.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(err(format!(
            "PostgreSQL cannot run as root and there is no `{name}` account to run it as"
        )));
    }
    // SAFETY: non-null result of getpwnam.
    Ok(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

impl Throwaway {
    /// Creates, starts and waits for a server (a few seconds at most).
    pub async fn start() -> io::Result<Throwaway> {
        let bin = find_bin_dir().ok_or_else(|| {
            err("no PostgreSQL found (initdb and postgres on PATH or in /usr/lib/postgresql/*/bin); install Debian's `postgresql` package")
        })?;
        // SAFETY: geteuid has no preconditions.
        let as_root = unsafe { libc::geteuid() } == 0;
        let ids = if as_root {
            Some(lookup_user(UNPRIVILEGED_USER)?)
        } else {
            None
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("synchost-pg-{}-{nanos:09}", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        if let Some((uid, gid)) = ids {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid))?;
        }
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "synchost-pg-watchdog"])
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let watchdog = match watchdog {
            Ok(w) => w,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let as_user = |cmd: &mut Command| {
            cmd.current_dir(&dir)
                .env("LC_ALL", "C")
                .env_remove("PGDATA");
            if let Some((uid, gid)) = ids {
                cmd.uid(uid).gid(gid);
            }
        };
        let data = dir.join("data");
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            .args(["--no-sync", "--no-instructions"])
            .stdin(Stdio::null());
        as_user(&mut initdb);
        let out = initdb.output()?;
        if !out.status.success() {
            let _ = fs::remove_dir_all(&dir);
            return Err(err(format!(
                "initdb failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let port = free_port()?;
        let log_path = dir.join("postgres.log");
        let log = fs::File::create(&log_path)?;
        fs::set_permissions(&log_path, fs::Permissions::from_mode(0o644))?;
        let mut postgres = Command::new(bin.join("postgres"));
        postgres
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()]);
        for setting in [
            "listen_addresses=127.0.0.1",
            "unix_socket_directories=",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "timezone=UTC",
            "max_connections=64",
            "shared_buffers=32MB",
            "max_wal_size=1GB",
            "dynamic_shared_memory_type=mmap",
            "log_min_messages=warning",
        ] {
            postgres.args(["-c", setting]);
        }
        postgres
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        as_user(&mut postgres);
        let postmaster = postgres.spawn()?;
        let mut server = Throwaway {
            dir,
            postmaster,
            _watchdog: watchdog,
            port,
            user: if as_root {
                UNPRIVILEGED_USER.to_owned()
            } else {
                std::env::var("USER").unwrap_or_default()
            },
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// libpq connection string of the superuser.
    pub fn conninfo(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} dbname=postgres",
            self.port
        )
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn pid(&self) -> u32 {
        self.postmaster.id()
    }

    async fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match tokio_postgres::connect(&self.conninfo(), tokio_postgres::NoTls).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let exited = self.postmaster.try_wait()?;
                    if exited.is_some() || Instant::now() > deadline {
                        let log =
                            fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
                        return Err(err(format!(
                            "PostgreSQL did not start ({e}); its log:\n{log}"
                        )));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }
}

impl Drop for Throwaway {
    /// Fast shutdown (SIGINT), SIGKILL after 10 s, then the directory goes.
    fn drop(&mut self) {
        let pid = self.postmaster.id() as libc::pid_t;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.postmaster.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                let _ = self.postmaster.kill();
                let _ = self.postmaster.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
