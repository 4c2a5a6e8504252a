//! TLS and company networks (issue 16): the fakes' `--tls`, the host
//! trusting extra certificate authorities, and proxies.

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use support::{wait_for, FakeServer};

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
