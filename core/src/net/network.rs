//! The network as it is in companies: proxies named by the environment, and
//! certificate authorities trusted besides the bundled public roots (a
//! TLS-inspecting proxy's, a private CA's). One [`Network`] per process,
//! shared by the HTTP clients of every source.
//!
//! Trusted, always: the bundled Mozilla roots (webpki-roots); the OS trust
//! store, found as OpenSSL finds it (`SSL_CERT_FILE` and `SSL_CERT_DIR` when
//! set, the system's bundle otherwise: rustls-native-certs); and
//! `[network] ca_file`. A file someone named that cannot be read or holds
//! no valid certificate is a configuration error (exit 2) naming it.
//!
//! Proxies: `HTTPS_PROXY` for https URLs (a CONNECT tunnel: the request,
//! its credential included, travels inside the TLS session with the origin),
//! `HTTP_PROXY` for plain http ones, `NO_PROXY` for the hosts that go
//! direct; lower-case names when the upper-case one is unset. A proxy's own
//! user and password (`http://user:pass@proxy:3128`) go to the proxy only:
//! they are never shown ([`ProxyUrl::shown`]), never logged, and never seen
//! by a plugin. The allowlist applies to origins, not to the proxy.
//!
//! An administrator's policy may force a proxy (`proxy = URL`, see
//! [`crate::trust::policy`]): then every request, http and https, goes
//! through it whatever `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` say, and a
//! request that would carry the credential over plain http (which the proxy
//! would read) is refused instead of going direct.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use url::Url;

/// The variables that name the OS trust store, as OpenSSL reads them.
const SSL_CERT_FILE: &str = "SSL_CERT_FILE";
const SSL_CERT_DIR: &str = "SSL_CERT_DIR";

/// How this process reaches the network.
#[derive(Debug, Default)]
pub struct Network {
    /// Certificates trusted besides the bundled roots.
    roots: Vec<reqwest::Certificate>,
    /// Where they came from, counted, for the log.
    trusted: Vec<String>,
    https_proxy: Option<ProxyUrl>,
    http_proxy: Option<ProxyUrl>,
    /// `NO_PROXY`, as written.
    no_proxy: Option<String>,
    /// The proxies are the policy's: nothing goes direct.
    forced: bool,
}

/// A proxy's URL, and how it may be shown: without its credentials.
#[derive(Clone)]
pub struct ProxyUrl {
    url: Url,
    shown: String,
}

impl std::fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl ProxyUrl {
    /// Parses the value of `var`. `proxy:3128` means `http://proxy:3128`.
    /// The error never repeats the value: it may hold a password.
    pub fn parse(var: &str, value: &str) -> Result<ProxyUrl, String> {
        let bad = |why: &str| {
            format!("{var} is not a usable proxy URL ({why}); expected http://[USER:PASSWORD@]HOST:PORT (the value is not shown: it may hold a password)")
        };
        let written = if value.contains("://") {
            value.to_string()
        } else {
            format!("http://{value}")
        };
        let url = Url::parse(&written).map_err(|err| bad(&err.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad(&format!(
                "scheme `{}`: only http and https proxies are supported",
                url.scheme()
            )));
        }
        let Some(host) = url.host_str() else {
            return Err(bad("no host"));
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let credentials = !url.username().is_empty() || url.password().is_some();
        let shown = format!(
            "{}://{}{host}:{port}",
            url.scheme(),
            if credentials { "[credentials]@" } else { "" }
        );
        Ok(ProxyUrl { url, shown })
    }

    /// The URL without its user and password.
    pub fn shown(&self) -> &str {
        &self.shown
    }
}

/// `name`'s value, or the lower-case name's when `name` is unset; an empty
/// value counts as unset.
fn env_either(name: &str) -> Option<(String, String)> {
    [name.to_string(), name.to_ascii_lowercase()]
        .into_iter()
        .find_map(|var| {
            let value = std::env::var(&var).ok()?;
            let value = value.trim().to_string();
            (!value.is_empty()).then_some((var, value))
        })
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

/// The certificates of a PEM file someone named (`what`): it must be
/// readable and hold at least one certificate, each of them usable as a
/// trust anchor.
fn pem_file(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|err| format!("{what} {shown}: cannot read: {err}"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("{what} {shown}: not a PEM certificate file: {err}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} {shown}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    for (n, cert) in certs.iter().enumerate() {
        rustls::RootCertStore::empty()
            .add(cert.clone())
            .map_err(|err| format!("{what} {shown}: certificate {} is not usable: {err}", n + 1))?;
    }
    Ok(certs)
}

/// The OS trust store: `SSL_CERT_FILE` and `SSL_CERT_DIR` when set (a
/// missing file or directory is an error naming it; unreadable entries of
/// the directory are warned about), the system's store otherwise (whose
/// problems are warned about: it is not the user's to fix here).
fn os_roots() -> Result<(Vec<CertificateDer<'static>>, String), String> {
    let (file, dirs) = (
        env_path(SSL_CERT_FILE),
        std::env::var_os(SSL_CERT_DIR)
            .map(|dirs| {
                std::env::split_paths(&dirs)
                    .filter(|dir| !dir.as_os_str().is_empty())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
    );
    if file.is_none() && dirs.is_empty() {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!("the OS trust store: {error}");
        }
        return Ok((found.certs, "the OS trust store".to_string()));
    }
    let mut certs = Vec::new();
    let mut named = Vec::new();
    if let Some(file) = file {
        certs.extend(pem_file(&file, SSL_CERT_FILE)?);
        named.push(format!("{SSL_CERT_FILE} {}", file.display()));
    }
    for dir in dirs {
        if !dir.is_dir() {
            return Err(format!("{SSL_CERT_DIR} {}: not a directory", dir.display()));
        }
        let found = rustls_native_certs::load_certs_from_paths(None, Some(&dir));
        for error in &found.errors {
            tracing::warn!("{SSL_CERT_DIR} {}: {error}", dir.display());
        }
        certs.extend(found.certs);
        named.push(format!("{SSL_CERT_DIR} {}", dir.display()));
    }
    Ok((certs, named.join(", ")))
}

impl Network {
    /// The network of this process, for a config whose `[network] ca_file`
    /// is `ca_file` (resolved against the config's directory), under a
    /// policy that forces `forced` as the proxy, if any: loaded once, then
    /// shared.
    pub fn of_process(
        ca_file: Option<&Path>,
        forced: Option<&ProxyUrl>,
    ) -> Result<Arc<Network>, String> {
        type Key = (Option<PathBuf>, Option<String>);
        static LOADED: Mutex<Option<(Key, Arc<Network>)>> = Mutex::new(None);
        let key = (
            ca_file.map(Path::to_path_buf),
            forced.map(|proxy| proxy.url.to_string()),
        );
        let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((known, network)) = loaded.as_ref() {
            if *known == key {
                return Ok(network.clone());
            }
        }
        let network = Arc::new(Network::load(ca_file, forced)?);
        *loaded = Some((key, network.clone()));
        Ok(network)
    }

    /// Reads the environment (unless a proxy is `forced`), the OS trust
    /// store and `ca_file`.
    pub fn load(ca_file: Option<&Path>, forced: Option<&ProxyUrl>) -> Result<Network, String> {
        // The OS store is the same for the whole process: read it once.
        static OS: OnceLock<Result<(Vec<CertificateDer<'static>>, String), String>> =
            OnceLock::new();
        let (os, os_name) = OS.get_or_init(os_roots).clone()?;
        let mut ders = Vec::new();
        let mut trusted = Vec::new();
        // Entries of a system store that rustls cannot use are skipped, as
        // every TLS client does; the files a user names are checked whole.
        let usable: Vec<_> = os
            .into_iter()
            .filter(|cert| rustls::RootCertStore::empty().add(cert.clone()).is_ok())
            .collect();
        trusted.push(format!("{os_name} ({})", usable.len()));
        ders.extend(usable);
        if let Some(file) = ca_file {
            let certs = pem_file(file, "[network] ca_file")?;
            trusted.push(format!(
                "[network] ca_file {} ({})",
                file.display(),
                certs.len()
            ));
            ders.extend(certs);
        }
        let roots = ders
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| format!("a trusted certificate is not usable: {err}"))?;
        if let Some(proxy) = forced {
            return Ok(Network {
                roots,
                trusted,
                https_proxy: Some(proxy.clone()),
                http_proxy: Some(proxy.clone()),
                no_proxy: None,
                forced: true,
            });
        }
        let proxy = |name: &str| {
            env_either(name)
                .map(|(var, value)| ProxyUrl::parse(&var, &value))
                .transpose()
        };
        Ok(Network {
            roots,
            trusted,
            https_proxy: proxy("HTTPS_PROXY")?,
            http_proxy: proxy("HTTP_PROXY")?,
            no_proxy: env_either("NO_PROXY").map(|(_, value)| value),
            forced: false,
        })
    }

    /// Whether the proxy is the policy's: nothing may go direct.
    pub fn forced(&self) -> bool {
        self.forced
    }

    /// Whether plain http requests go through a proxy (where one carrying
    /// the credential must not: see [`Network::configure`]).
    pub fn proxies_http(&self) -> bool {
        self.http_proxy.is_some()
    }

    /// `builder` trusting the extra roots and, unless `direct`, using the
    /// proxies; reqwest's own reading of the environment is off, so what is
    /// honoured is what this module says.
    pub fn configure(
        &self,
        mut builder: reqwest::ClientBuilder,
        direct: bool,
    ) -> Result<reqwest::ClientBuilder, String> {
        builder = builder.no_proxy();
        for cert in &self.roots {
            builder = builder.add_root_certificate(cert.clone());
        }
        if direct {
            return Ok(builder);
        }
        let no_proxy = || {
            self.no_proxy
                .as_deref()
                .and_then(reqwest::NoProxy::from_string)
        };
        let refused = |proxy: &ProxyUrl| format!("proxy {} is not usable", proxy.shown());
        if let Some(proxy) = &self.https_proxy {
            let route = reqwest::Proxy::https(proxy.url.as_str()).map_err(|_| refused(proxy))?;
            builder = builder.proxy(route.no_proxy(no_proxy()));
        }
        if let Some(proxy) = &self.http_proxy {
            let route = reqwest::Proxy::http(proxy.url.as_str()).map_err(|_| refused(proxy))?;
            builder = builder.proxy(route.no_proxy(no_proxy()));
        }
        Ok(builder)
    }

    /// One line for the log: what is trusted and which proxies are used
    /// (never their credentials).
    pub fn describe(&self) -> String {
        let shown = |proxy: &Option<ProxyUrl>| {
            proxy
                .as_ref()
                .map_or("direct".to_string(), |p| p.shown().to_string())
        };
        format!(
            "trusting the bundled roots, {}; https via {}, http via {}{}{}",
            self.trusted.join(", "),
            shown(&self.https_proxy),
            shown(&self.http_proxy),
            if self.forced {
                " (forced by the policy)"
            } else {
                ""
            },
            self.no_proxy
                .as_deref()
                .map_or(String::new(), |hosts| format!(", NO_PROXY {hosts}"))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_urls_are_shown_without_credentials() {
        let proxy = ProxyUrl::parse("HTTPS_PROXY", "http://user:s3cr3t@proxy.corp:3128").unwrap();
        assert_eq!(proxy.shown(), "http://[credentials]@proxy.corp:3128");
        assert!(!format!("{proxy:?}").contains("s3cr3t"));
        let bare = ProxyUrl::parse("HTTP_PROXY", "proxy.corp:8080").unwrap();
        assert_eq!(bare.shown(), "http://proxy.corp:8080");
        assert_eq!(bare.url.as_str(), "http://proxy.corp:8080/");
        let default_port = ProxyUrl::parse("HTTP_PROXY", "http://proxy.corp").unwrap();
        assert_eq!(default_port.shown(), "http://proxy.corp:80");
    }

    #[test]
    fn bad_proxy_urls_are_refused_without_their_value() {
        for bad in [
            "socks5://user:s3cr3t@proxy:1080",
            "http://user:s3cr3t@:3128",
            "http://user:s3cr3t@proxy:notaport",
        ] {
            let err = ProxyUrl::parse("HTTPS_PROXY", bad).unwrap_err();
            assert!(
                err.starts_with("HTTPS_PROXY is not a usable proxy URL"),
                "{err}"
            );
            assert!(!err.contains("s3cr3t"), "{err}");
        }
    }

    #[test]
    fn named_pem_files_must_hold_usable_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = pem_file(&missing, "[network] ca_file").unwrap_err();
        assert!(
            err.starts_with("[network] ca_file ") && err.contains("missing.pem: cannot read"),
            "{err}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let err = pem_file(&empty, SSL_CERT_FILE).unwrap_err();
        assert!(err.contains("empty.pem: holds no PEM certificate"), "{err}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let err = pem_file(&garbage, SSL_CERT_FILE).unwrap_err();
        assert!(
            err.contains("garbage.pem: certificate 1 is not usable"),
            "{err}"
        );
    }
}
