//! `--tls`: every fake can serve https with a certificate of its own.
//!
//! At startup [`TestPki::generate`] makes a throwaway CA (ECDSA P-256, rcgen
//! on ring) and a server certificate it signs for `127.0.0.1` and
//! `localhost`; the CA certificate is written to a temporary `.pem` file
//! (removed when the fake stops: see [`CaFile`]) whose path the fake prints
//! as `ca: PATH.pem` right after `listening on https://127.0.0.1:PORT`.
//! A client that trusts that file reaches the fake over TLS; one that does
//! not meets an unknown issuer. [`TlsListener`] serves axum over it.
//!
//! Like a real service, the fake also answers plain http on a port of its
//! own, printed third as `plain http: http://127.0.0.1:PORT (redirects to
//! https)`, with nothing but a redirect to the same path over https
//! ([`serve_https_redirects`]): a client configured with `http://` meets
//! what it would meet in production.

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// A client gets this long to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for axum to take them.
const ACCEPT_QUEUE: usize = 256;

/// The names the server certificate is valid for.
const SERVER_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A test CA and the server certificate it signed.
pub struct TestPki {
    /// The CA certificate, PEM: what clients are to trust.
    pub ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn tls_error(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("--tls: {what}: {e}"))
}

impl TestPki {
    pub fn generate() -> io::Result<TestPki> {
        let rc = |e: rcgen::Error| tls_error("cannot make the test certificates", e);
        let ca_key = KeyPair::generate().map_err(rc)?;
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca.distinguished_name
            .push(DnType::CommonName, "synchost-fake test CA");
        let ca_cert = ca.self_signed(&ca_key).map_err(rc)?;
        let issuer = Issuer::from_params(&ca, &ca_key);

        let key = KeyPair::generate().map_err(rc)?;
        let mut server =
            CertificateParams::new(SERVER_NAMES.map(str::to_owned).to_vec()).map_err(rc)?;
        server
            .distinguished_name
            .push(DnType::CommonName, "synchost-fake");
        server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server.signed_by(&key, &issuer).map_err(rc)?;
        Ok(TestPki {
            ca_pem: ca_cert.pem(),
            chain: vec![server_cert.der().clone(), ca_cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }

    /// A rustls acceptor serving the server certificate. ALPN offers
    /// HTTP/1.1 only, what the fakes speak over plain http too (their
    /// faults are HTTP/1.1's: resets, short bodies).
    pub fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                self.chain.clone(),
                PrivateKeyDer::Pkcs8(self.key.clone_key()),
            )
            .map_err(|e| tls_error("bad server certificate", e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

/// The CA certificate in a temporary file, removed on drop.
pub struct CaFile(PathBuf);

impl CaFile {
    /// Writes `pem` to a new file `synchost-fake-ca-*.pem` in the temporary
    /// directory (`TMPDIR`), readable by its owner only.
    pub fn write(pem: &str) -> io::Result<CaFile> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let dir = std::env::temp_dir();
        let stamp = format!("{}-{:016x}", std::process::id(), rand::random::<u64>());
        let path = dir.join(format!("synchost-fake-ca-{stamp}.pem"));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| tls_error(&format!("cannot write {}", path.display()), e))?;
        let file_guard = CaFile(path);
        file.write_all(pem.as_bytes())?;
        Ok(file_guard)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// An axum listener serving TLS: it accepts TCP connections and runs each
/// handshake on a task of its own (bounded by [`HANDSHAKE_TIMEOUT`]), so a
/// slow or broken client delays nobody else; failed handshakes are dropped.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    pub fn new(listener: TcpListener, acceptor: TlsAcceptor) -> io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPT_QUEUE);
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    // Out of descriptors, say: wait and go on, as axum does.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    if let Ok(Ok(tls)) = handshake.await {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        Ok(TlsListener { ready, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop never ends while the runtime runs.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Serves `listener` (plain http) answering every request with a redirect to
/// the same path and query on `https_addr`: `301` for GET and HEAD, `308`
/// (method and body kept) for the rest, as web servers commonly do.
pub fn serve_https_redirects(listener: TcpListener, https_addr: SocketAddr) {
    let redirect = move |method: Method, uri: Uri| async move {
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let status = match method {
            Method::GET | Method::HEAD => StatusCode::MOVED_PERMANENTLY,
            _ => StatusCode::PERMANENT_REDIRECT,
        };
        let location = format!("https://{https_addr}{path}");
        (status, [(header::LOCATION, location)]).into_response()
    };
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new().fallback(redirect)).await;
    });
}
