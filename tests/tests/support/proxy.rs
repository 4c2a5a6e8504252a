//! A CONNECT proxy the tests run (`tests/tls.rs`, `tests/policy.rs`): it
//! requires its own credentials, relays tunnels (or, inspecting, reads the
//! requests inside them), forwards plain http requests, and keeps what it
//! saw.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine as _;

/// The proxy's own user and password.
pub const PROXY_USER: &str = "proxyuser";
pub const PROXY_PASSWORD: &str = "proxy-pw-8f3a61c2";

/// The variables of a company network; each run starts without the test
/// machine's own.
pub const NETWORK_VARS: [&str; 9] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// Panics when a file under `dir` holds the proxy's password.
#[track_caller]
pub fn assert_password_in_no_file(dir: &Path) {
    for file in super::files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PROXY_PASSWORD),
            "{} holds the proxy's password",
            file.display()
        );
    }
}

/// What the proxy saw.
#[derive(Default)]
pub struct ProxyLog {
    /// Every request head it received (CONNECT or not).
    pub heads: Vec<String>,
    /// Tunnels it opened.
    pub tunnels: u64,
    /// Plain http connections it forwarded (after their first request,
    /// what follows on the connection is relayed as is).
    pub forwarded: u64,
    /// Bytes the client sent through its tunnels.
    pub relayed: Vec<u8>,
    /// Inspecting: the request heads it read inside the tunnels.
    pub inspected: Vec<String>,
}

/// A TLS-inspecting proxy's TLS: it answers the client with a certificate
/// of its own (self-signed: its "CA" file), and reaches the origin trusting
/// the origin's CA.
pub struct Inspection {
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl Inspection {
    pub fn new(origin_ca: &Path) -> Inspection {
        let own = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let key = rustls::pki_types::PrivatePkcs8KeyDer::from(own.signing_key.serialize_der());
        let mut server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![own.cert.der().clone()], key.into())
            .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject as _;
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(origin_ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let client = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        Inspection {
            ca_pem: own.cert.pem(),
            server: Arc::new(server),
            client: Arc::new(client),
        }
    }
}

/// The proxy's credentials as `Proxy-Authorization: Basic` carries them.
pub fn proxy_basic() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}"))
}

/// A CONNECT proxy on 127.0.0.1 that requires `Proxy-Authorization:
/// Basic` with [`PROXY_USER`] and [`PROXY_PASSWORD`] (407 without), and
/// relays tunnel bytes; it forwards plain http requests (`GET http://…`)
/// too, and answers anything else 405.
pub struct ConnectProxy {
    pub port: u16,
    pub log: Arc<Mutex<ProxyLog>>,
}

impl ConnectProxy {
    /// A proxy that relays tunnels, blind.
    pub fn start() -> ConnectProxy {
        ConnectProxy::serve(None)
    }

    /// A TLS-inspecting proxy: it ends the client's TLS in each tunnel with
    /// `inspection`'s certificate and forwards the HTTP/1.1 requests it
    /// reads to the origin over a TLS session of its own.
    pub fn inspecting(inspection: Inspection) -> ConnectProxy {
        ConnectProxy::serve(Some(Arc::new(inspection)))
    }

    fn serve(inspection: Option<Arc<Inspection>>) -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(ProxyLog::default()));
        let shared = log.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (log, inspection) = (shared.clone(), inspection.clone());
                thread::spawn(move || tunnel(client, &log, inspection.as_deref()));
            }
        });
        ConnectProxy { port, log }
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!(
            "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}",
            self.port
        )
    }

    pub fn tunnels(&self) -> u64 {
        self.log.lock().unwrap().tunnels
    }
}

fn tunnel(client: TcpStream, log: &Mutex<ProxyLog>, inspection: Option<&Inspection>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || head.len() > 16 << 10 {
            return;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    log.lock().unwrap().heads.push(head.clone());
    let mut client = client;
    // A CONNECT, or a plain http request forwarded whole (`GET http://…`).
    let (target, forward) = match head.split_whitespace().collect::<Vec<_>>()[..] {
        ["CONNECT", target, ..] => (target.to_string(), false),
        [_, url, ..] if url.starts_with("http://") => {
            let authority = url["http://".len()..].split('/').next().unwrap_or_default();
            (authority.to_string(), true)
        }
        _ => {
            let _ =
                client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
            return;
        }
    };
    let expected = format!("basic {}", proxy_basic());
    let authorized = head.lines().any(|line| {
        line.split_once(':').is_some_and(|(name, value)| {
            name.eq_ignore_ascii_case("proxy-authorization")
                && value.trim().eq_ignore_ascii_case(&expected)
        })
    });
    if !authorized {
        let _ = client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"test\"\r\ncontent-length: 0\r\n\r\n",
        );
        return;
    }
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    let mut upstream = upstream;
    if forward {
        log.lock().unwrap().forwarded += 1;
        if upstream.write_all(head.as_bytes()).is_err() {
            return;
        }
    } else {
        log.lock().unwrap().tunnels += 1;
        let _ = client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n");
    }
    if let Some(inspection) = inspection.filter(|_| !forward) {
        return inspect(client, upstream, inspection, log);
    }
    // Upstream to client on a thread of its own; client to upstream here.
    let (mut up_read, mut client_write) =
        (upstream.try_clone().unwrap(), client.try_clone().unwrap());
    let down = thread::spawn(move || {
        let _ = std::io::copy(&mut up_read, &mut client_write);
        let _ = client_write.shutdown(Shutdown::Write);
    });
    // What the client sent past the head is still in the reader's buffer.
    let mut buf = reader.buffer().to_vec();
    let mut reader = reader.into_inner();
    loop {
        if !buf.is_empty() {
            log.lock().unwrap().relayed.extend_from_slice(&buf);
            if upstream.write_all(&buf).is_err() {
                break;
            }
        }
        buf.resize(16 << 10, 0);
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.truncate(n),
        }
    }
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = down.join();
}

/// Bytes of `stream` up to and including the blank line ending a head
/// (`None` at end of stream).
fn read_head(stream: &mut impl std::io::Read) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) if head.len() < 64 << 10 => head.push(byte[0]),
            _ => return None,
        }
    }
    String::from_utf8(head).ok()
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

/// The inspecting half of [`tunnel`]: TLS with the client ended here, the
/// requests read one at a time (HTTP/1.1, no pipelining: what a client
/// does), counted, and sent on to the origin over TLS; each answer read
/// whole (by its content-length) and sent back.
fn inspect(client: TcpStream, upstream: TcpStream, inspection: &Inspection, log: &Mutex<ProxyLog>) {
    let server = rustls::ServerConnection::new(inspection.server.clone()).unwrap();
    let mut down = rustls::StreamOwned::new(server, client);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let origin = rustls::ClientConnection::new(inspection.client.clone(), name).unwrap();
    let mut up = rustls::StreamOwned::new(origin, upstream);
    while let Some(request) = read_head(&mut down) {
        let mut body = vec![0; content_length(&request)];
        if down.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap().inspected.push(request.clone());
        if up
            .write_all(request.as_bytes())
            .and_then(|()| up.write_all(&body))
            .is_err()
        {
            return;
        }
        let Some(response) = read_head(&mut up) else {
            return;
        };
        let bodyless = ["HTTP/1.1 204", "HTTP/1.1 304"]
            .iter()
            .any(|s| response.starts_with(s));
        let mut body = vec![
            0;
            if bodyless {
                0
            } else {
                content_length(&response)
            }
        ];
        if up.read_exact(&mut body).is_err()
            || down
                .write_all(response.as_bytes())
                .and_then(|()| down.write_all(&body))
                .is_err()
            || down.flush().is_err()
        {
            return;
        }
    }
}
