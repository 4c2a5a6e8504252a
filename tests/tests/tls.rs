//! TLS and company networks (issue 16): the fakes' `--tls`, the host
//! trusting extra certificate authorities (`[network] ca_file`,
//! `SSL_CERT_FILE`), and proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`)
//! through a CONNECT proxy the test runs, which counts its tunnels and
//! keeps what it saw.

mod support;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use support::{
    assert_exit_code, assert_success, export, files_under, items_config, output_text, plugin_path,
    stored, str_field, summary_of, toml_str, wait_for, FakeServer, Synchost, Workspace, TOKEN_VAR,
};

/// The source's credential (the fakes require it with `--token`).
const TOKEN: &str = "tok-tls-5d0c2e91b7a4";
/// The proxy's own user and password.
const PROXY_USER: &str = "proxyuser";
const PROXY_PASSWORD: &str = "proxy-pw-8f3a61c2";
/// The variables of a company network; each run starts without the test
/// machine's own.
const NETWORK_VARS: [&str; 9] = [
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

/// `synchost-fake items --tls`: https with a CA of its own, printed as
/// `ca: PATH.pem` and removed when the fake is stopped.
#[test]
fn tls_fake_serves_https_with_its_own_ca() {
    let fake = FakeServer::start("items", &["--count", "40", "--tls"]);
    assert!(
        fake.url().starts_with("https://127.0.0.1:"),
        "{}",
        fake.url()
    );
    let ca = fake.ca().expect("a `ca:` line").to_path_buf();
    let pem = std::fs::read_to_string(&ca).expect("the CA file exists while the fake runs");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
    // The control API answers over https, trusting that CA.
    assert_eq!(fake.ground_truth().len(), 40);

    // Plain http to the same port gets no HTTP answer.
    let mut tcp = TcpStream::connect(("127.0.0.1", fake.port())).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"GET /_control/stats HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain http was answered: {}",
        String::from_utf8_lossy(&answer)
    );

    // SIGTERM: the fake removes its CA file before it exits.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &fake.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for("the CA file removed", Duration::from_secs(20), || {
        !ca.exists()
    });
}

// ---------------------------------------------------------------------------
// Pulls over TLS

/// `synchost pull items --json` with the token, none of the machine's
/// network variables, and `env`.
fn pull(ws: &Workspace, extra: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut run = Synchost::new(ws)
        .args(["pull", "items", "--json"])
        .args(extra)
        .shared_cache()
        .env(TOKEN_VAR, TOKEN);
    for var in NETWORK_VARS {
        run = run.env_remove(var);
    }
    for (key, value) in env {
        run = run.env(key, value);
    }
    run.output()
}

/// The items source against `fake` with the bearer token, no retries (a
/// refusal is final at once) and `network` appended (a `[network]` table).
fn config(ws: &Workspace, fake: &FakeServer, network: &str) {
    items_config(
        ws,
        fake,
        &format!(
            "[sources.items.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n\n\
             [sources.items.retry]\nmax_retries = 0\n\n{network}"
        ),
    );
}

fn ca_table(ca: &Path) -> String {
    format!(
        "[network]\nca_file = {}\n",
        toml_str(&ca.display().to_string())
    )
}

/// A workspace whose items source reads the `--tls` fake trusting its CA.
fn trusting_workspace(fake: &FakeServer) -> Workspace {
    let ws = Workspace::new();
    config(&ws, fake, &ca_table(fake.ca().expect("a --tls fake")));
    ws
}

fn tls_fake(count: &str) -> FakeServer {
    FakeServer::start("items", &["--count", count, "--tls", "--token", TOKEN])
}

/// What the store holds equals the fake's ground truth.
#[track_caller]
fn assert_stored_all(ws: &Workspace, fake: &FakeServer) {
    let mut truth = fake.ground_truth();
    truth.sort();
    assert_eq!(stored(&export(ws, "items", &[])).live, truth);
}

#[test]
fn pull_over_tls_trusting_the_fake_ca_by_config_or_ssl_cert_file() {
    let fake = tls_fake("350");
    let ca = fake.ca().unwrap();

    let ws = Workspace::new();
    config(&ws, &fake, &ca_table(ca));
    assert_success(&pull(&ws, &[], &[]));
    assert_stored_all(&ws, &fake);

    // The same CA named by SSL_CERT_FILE instead.
    let by_env = Workspace::new();
    config(&by_env, &fake, "");
    assert_success(&pull(
        &by_env,
        &[],
        &[("SSL_CERT_FILE", ca.to_str().unwrap())],
    ));
    assert_stored_all(&by_env, &fake);
}

#[test]
fn an_untrusted_certificate_fails_the_pull_naming_the_problem() {
    let fake = tls_fake("50");
    let ws = Workspace::new();
    config(&ws, &fake, "");
    let out = pull(&ws, &[], &[]);
    let stderr = assert_exit_code(&out, 1);
    let (stdout, _) = output_text(&out);
    let all = format!("{stdout}\n{stderr}");
    assert!(
        all.contains("TLS certificate of 127.0.0.1 is not trusted")
            && all.contains("UnknownIssuer")
            && all.contains("[network] ca_file"),
        "{all}"
    );
    assert!(!all.contains(TOKEN), "{all}");
    // Nothing stored, and no request was answered: the handshake failed.
    let records = if ws.store_path().exists() {
        export(&ws, "items", &[])
    } else {
        Vec::new()
    };
    assert!(records.is_empty(), "{records:?}");
    assert_eq!(fake.requests(), 0);
}

#[test]
fn unusable_ca_files_and_proxy_urls_are_refused_before_any_request() {
    let fake = tls_fake("10");
    let ws = Workspace::new();
    let missing = ws.path().join("no-such-ca.pem");
    let garbage = ws.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let not_pem = ws.path().join("notes.txt");
    std::fs::write(&not_pem, "just words\n").unwrap();
    let ca = fake.ca().unwrap().to_str().unwrap();
    let cases = [
        (ca_table(&missing), vec![], "no-such-ca.pem: cannot read"),
        (ca_table(&garbage), vec![], "certificate 1 is not usable"),
        (ca_table(&not_pem), vec![], "holds no PEM certificate"),
        (
            String::new(),
            vec![("SSL_CERT_FILE", missing.to_str().unwrap())],
            "SSL_CERT_FILE /",
        ),
        (
            String::new(),
            vec![
                ("SSL_CERT_FILE", ca),
                (
                    "HTTPS_PROXY",
                    "socks5://someone:sock-secret-99@127.0.0.1:1080",
                ),
            ],
            "HTTPS_PROXY is not a usable proxy URL",
        ),
    ];
    for (network, env, expected) in cases {
        config(&ws, &fake, &network);
        let out = pull(&ws, &[], &env);
        let stderr = assert_exit_code(&out, 2);
        assert!(stderr.contains(expected), "{expected:?} not in: {stderr}");
        assert!(!stderr.contains("sock-secret-99"), "{stderr}");
    }
    assert_eq!(fake.requests(), 0);
}

// ---------------------------------------------------------------------------
// A CONNECT proxy

/// What the proxy saw.
#[derive(Default)]
struct ProxyLog {
    /// Every request head it received (CONNECT or not).
    heads: Vec<String>,
    /// Tunnels it opened.
    tunnels: u64,
    /// Plain http connections it forwarded (after their first request,
    /// what follows on the connection is relayed as is).
    forwarded: u64,
    /// Bytes the client sent through its tunnels.
    relayed: Vec<u8>,
    /// Inspecting: the request heads it read inside the tunnels.
    inspected: Vec<String>,
}

/// A TLS-inspecting proxy's TLS: it answers the client with a certificate
/// of its own (self-signed: its "CA" file), and reaches the origin trusting
/// the origin's CA.
struct Inspection {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
    client: Arc<rustls::ClientConfig>,
}

impl Inspection {
    fn new(origin_ca: &Path) -> Inspection {
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
fn proxy_basic() -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}"))
}

/// A CONNECT proxy on 127.0.0.1 that requires `Proxy-Authorization:
/// Basic` with [`PROXY_USER`] and [`PROXY_PASSWORD`] (407 without), and
/// relays tunnel bytes; it forwards plain http requests (`GET http://…`)
/// too, and answers anything else 405.
struct ConnectProxy {
    port: u16,
    log: Arc<Mutex<ProxyLog>>,
}

impl ConnectProxy {
    /// A proxy that relays tunnels, blind.
    fn start() -> ConnectProxy {
        ConnectProxy::serve(None)
    }

    /// A TLS-inspecting proxy: it ends the client's TLS in each tunnel with
    /// `inspection`'s certificate and forwards the HTTP/1.1 requests it
    /// reads to the origin over a TLS session of its own.
    fn inspecting(inspection: Inspection) -> ConnectProxy {
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
    fn url(&self) -> String {
        format!(
            "http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{}",
            self.port
        )
    }

    fn tunnels(&self) -> u64 {
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

#[test]
fn a_pull_goes_through_the_https_proxy_unless_no_proxy_says_otherwise() {
    let fake = tls_fake("300");
    let proxy = ConnectProxy::start();
    let ws = trusting_workspace(&fake);
    let cassette = ws.path().join("cassette");
    let out = pull(
        &ws,
        &["--record", cassette.to_str().unwrap()],
        // Every log line of every crate, to look for the password in.
        &[("HTTPS_PROXY", &proxy.url()), ("RUST_LOG", "debug")],
    );
    let stdout = assert_success(&out);
    assert_stored_all(&ws, &fake);
    assert!(proxy.tunnels() > 0, "no tunnel through the proxy");
    {
        let log = proxy.log.lock().unwrap();
        for head in &log.heads {
            assert!(head.starts_with("CONNECT 127.0.0.1:"), "{head}");
            // The source's credential goes inside the tunnel, never to the proxy.
            assert!(
                !head.contains(TOKEN) && !head.to_ascii_lowercase().contains("\nauthorization:"),
                "{head}"
            );
        }
        // Inside the tunnel, TLS: the token is never readable on the way.
        let relayed = String::from_utf8_lossy(&log.relayed);
        assert!(!log.relayed.is_empty() && !relayed.contains(TOKEN) && !relayed.contains("GET /"));
    }
    // The fake answered every request the host sent.
    let summary = summary_of(&stdout);
    assert!(fake.requests() > 0);
    assert_eq!(
        summary["summary"]["requests"].as_u64(),
        Some(fake.requests()),
        "{summary}"
    );
    // The proxy's password is nowhere: output, store, cassette.
    let (_, stderr) = output_text(&out);
    for secret in [PROXY_PASSWORD, &proxy_basic()] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} shown"
        );
    }
    for file in files_under(ws.path()) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PROXY_PASSWORD),
            "{} holds the proxy's password",
            file.display()
        );
    }
    assert!(
        !files_under(&cassette).is_empty(),
        "a cassette was recorded"
    );

    // NO_PROXY: straight to the origin.
    let direct = trusting_workspace(&fake);
    let tunnels = proxy.tunnels();
    assert_success(&pull(
        &direct,
        &[],
        &[("HTTPS_PROXY", &proxy.url()), ("NO_PROXY", "127.0.0.1")],
    ));
    assert_stored_all(&direct, &fake);
    assert_eq!(proxy.tunnels(), tunnels, "NO_PROXY went through the proxy");
}

#[test]
fn a_proxy_refusing_its_credentials_fails_without_showing_them() {
    let fake = tls_fake("20");
    let proxy = ConnectProxy::start();
    let ws = trusting_workspace(&fake);
    let wrong = format!("http://{PROXY_USER}:wrong-pw-31c9@127.0.0.1:{}", proxy.port);
    let out = pull(&ws, &[], &[("https_proxy", &wrong)]);
    let stderr = assert_exit_code(&out, 1);
    let (stdout, _) = output_text(&out);
    assert!(
        !format!("{stdout}{stderr}").contains("wrong-pw-31c9"),
        "{stderr}"
    );
    assert_eq!(proxy.tunnels(), 0);
    assert!(
        !proxy.log.lock().unwrap().heads.is_empty(),
        "lower-case https_proxy was used"
    );
    assert_eq!(fake.requests(), 0);
}

/// Plain http goes through `HTTP_PROXY`, except when it carries the
/// credential (an http base_url's origin): in clear text, the proxy would
/// read it, so that origin is reached directly.
#[test]
fn plain_http_goes_through_the_http_proxy_but_never_with_the_credential() {
    let fake = FakeServer::start("items", &["--count", "30"]);
    let proxy = ConnectProxy::start();
    let ws = Workspace::new();
    items_config(&ws, &fake, "");
    assert_success(&pull(&ws, &[], &[("HTTP_PROXY", &proxy.url())]));
    assert_stored_all(&ws, &fake);
    assert!(proxy.log.lock().unwrap().forwarded > 0, "HTTP_PROXY unused");

    let guarded = FakeServer::start("items", &["--count", "30", "--token", TOKEN]);
    let proxy = ConnectProxy::start();
    let ws = Workspace::new();
    config(&ws, &guarded, "");
    assert_success(&pull(&ws, &[], &[("HTTP_PROXY", &proxy.url())]));
    assert_stored_all(&ws, &guarded);
    assert!(
        proxy.log.lock().unwrap().heads.is_empty(),
        "the proxy was asked"
    );
}

/// A TLS-inspecting proxy (the reason for `ca_file`): trusted through its
/// own CA, it reads every request, and counts as many as the host sent and
/// the origin answered; trusting only the origin's CA, the host refuses it.
#[test]
fn a_tls_inspecting_proxy_works_when_its_ca_is_trusted() {
    let fake = tls_fake("250");
    let inspection = Inspection::new(fake.ca().unwrap());
    let ws = Workspace::new();
    let proxy_ca = ws.path().join("proxy-ca.pem");
    std::fs::write(&proxy_ca, &inspection.ca_pem).unwrap();
    let proxy = ConnectProxy::inspecting(inspection);
    config(&ws, &fake, &ca_table(&proxy_ca));
    let out = pull(&ws, &[], &[("HTTPS_PROXY", &proxy.url())]);
    let stdout = assert_success(&out);
    assert_stored_all(&ws, &fake);
    let inspected = proxy.log.lock().unwrap().inspected.len() as u64;
    let host = summary_of(&stdout)["summary"]["requests"].as_u64();
    assert!(inspected > 0);
    assert_eq!(host, Some(inspected), "the proxy's count is the host's");
    assert_eq!(fake.requests(), inspected, "and the origin's");

    // Without the proxy's CA (the origin's alone), the host refuses it.
    let strict = trusting_workspace(&fake);
    let before = fake.requests();
    let out = pull(&strict, &[], &[("HTTPS_PROXY", &proxy.url())]);
    let stderr = assert_exit_code(&out, 1);
    assert!(
        stderr.contains("not trusted") && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );
    assert_eq!(fake.requests(), before);
}

/// A redirect from https to plain http is refused before the hop is sent,
/// end to end now that a fake serves https; the https origin itself gets
/// the credential, inside TLS.
#[test]
fn a_redirect_from_https_to_plain_http_is_refused() {
    let tls = FakeServer::start("items", &["--count", "1", "--tls"]);
    let plain = FakeServer::start("items", &["--count", "1"]);
    let (tls_port, plain_port) = (tls.port(), plain.port());
    let urls = [
        format!("{}/echo", tls.url()),
        format!(
            "{}/redirect?to=http://localhost:{plain_port}/echo",
            tls.url()
        ),
    ];
    let ws = Workspace::new();
    ws.write_config(&format!(
        "[sources.hostile]\nplugin = {plugin}\n\
         allowed_hosts = [\"https://127.0.0.1:{tls_port}\", \"localhost:*\"]\n\
         [sources.hostile.settings]\nattack = \"echo-urls\"\nbase_url = {base}\nurls = {urls}\n\
         [sources.hostile.auth]\ntype = \"bearer\"\ntoken_env = \"{TOKEN_VAR}\"\n\n{network}",
        plugin = toml_str(&plugin_path("hostile").display().to_string()),
        base = toml_str(tls.url()),
        urls = toml_str(&urls.join(" ")),
        network = ca_table(tls.ca().unwrap()),
    ));
    let mut run = Synchost::new(&ws)
        .args(["pull", "hostile"])
        .shared_cache()
        .env(TOKEN_VAR, TOKEN);
    for var in NETWORK_VARS {
        run = run.env_remove(var);
    }
    assert_success(&run.output());
    let records = export(&ws, "hostile", &[]);
    let report = records
        .iter()
        .find(|r| r["id"] == "report")
        .expect("a report");
    let outcomes: Vec<Value> = serde_json::from_str(str_field(report, "content")).unwrap();
    let echoed: Value = serde_json::from_str(str_field(&outcomes[0], "body")).unwrap();
    assert!(
        echoed["headers"]["authorization"]
            .as_str()
            .is_some_and(|v| v.contains("[REDACTED]")),
        "the https origin got the credential: {}",
        outcomes[0]
    );
    let denied = outcomes[1]["denied"].as_str().unwrap_or_default();
    assert!(
        denied.contains("redirect refused") && denied.contains("would leave https for plain http"),
        "{}",
        outcomes[1]
    );
    assert_eq!(plain.requests(), 0, "the plain http hop was sent");
}
