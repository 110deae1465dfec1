//! A counter process the scenarios can kill, stop and restart on the same address (clients keep their target),
//! on 127.0.0.1 or inside a network namespace, optionally under libfaketime.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::redis::{free_port, Host};
use crate::support::{Server, BIN};

pub struct Pod {
    server: Option<Server>,
    host: Host,
    port: u16,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Pod {
    /// `counter --bind <host> --port <fixed> ARGS`, started and (in redis mode) every worker's link connected.
    pub fn start(host: Host, args: &[&str], env: &[(&str, &str)]) -> Pod {
        let port = if host.netns.is_some() { 8080 } else { free_port() };
        let mut pod = Pod {
            server: None,
            host,
            port,
            args: args.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        pod.spawn();
        pod
    }

    pub fn local(args: &[&str]) -> Pod {
        Pod::start(Host::local(), args, &[])
    }

    /// Starts the process again with the same arguments; waits for its listening line (and Redis links).
    pub fn spawn(&mut self) {
        self.spawn_unready();
        if self.args.iter().any(|a| a == "redis") {
            let server = self.server();
            assert!(server.wait_redis_connected(Duration::from_secs(20)), "pod never connected:\n{}", self.log_text());
        }
    }

    /// Starts the process again; waits only for its listening line (Redis may be down).
    pub fn spawn_unready(&mut self) {
        let mut cmd: Command = self.host.command(BIN);
        cmd.args(["--bind", &self.host.ip, "--port", &self.port.to_string()]).args(&self.args);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        self.server = Some(Server::start_command(cmd));
    }

    pub fn addr(&self) -> SocketAddr {
        format!("{}:{}", self.host.ip, self.port).parse().unwrap()
    }

    pub fn server(&self) -> &Server {
        self.server.as_ref().expect("the pod is running")
    }

    pub fn signal(&self, signal: i32) {
        if let Some(s) = &self.server {
            s.signal(signal);
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.signal(libc::SIGKILL);
            let _ = s.wait_exit(Duration::from_secs(10));
        }
    }

    /// SIGSTOP for `how_long`, then SIGCONT; returns when it was stopped.
    pub fn pause(&self, how_long: Duration) -> Instant {
        let from = Instant::now();
        self.signal(libc::SIGSTOP);
        std::thread::sleep(how_long);
        self.signal(libc::SIGCONT);
        from
    }

    /// The last 20 lines of the process's log, for a failure message.
    pub fn log_text(&self) -> String {
        crate::tail(&self.server.as_ref().map(Server::log_text).unwrap_or_default(), 20)
    }
}
