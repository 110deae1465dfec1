//! A real client: curl (installed by .ci/run) against the running binary.

use std::process::Command;

use crate::support::Server;

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl").args(["-sS", "--max-time", "5"]).args(args).output().expect("curl is installed");
    assert!(out.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn curl_gets_the_contract() {
    let server = Server::start();
    let base = format!("http://{}", server.addr);
    let body = curl(&[&format!("{base}/status")]);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((json["counter"].as_u64(), json["status"].as_bool()), (Some(1), Some(true)));
    // Several URLs on one curl invocation reuse the connection.
    let two = curl(&[&format!("{base}/status"), &format!("{base}/status")]);
    assert!(two.contains(r#""counter":2,"status":false"#) && two.contains(r#""counter":3,"status":true"#), "{two}");
    let head = curl(&["-I", &format!("{base}/statusV2")]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n") && head.contains("Cache-Control: no-store"), "{head}");
    let code = curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("{base}/nope")]);
    assert_eq!(code, "404");
    let code = curl(&["-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", &format!("{base}/status")]);
    assert_eq!(code, "405");
    let old = curl(&["--http1.0", "-i", &format!("{base}/health")]);
    assert!(old.contains("Connection: close"), "{old}");
}
