//! A hostile Redis for tests: a small RESP server on 127.0.0.1 (std only, a thread per connection) that answers
//! like a Redis running the counter's script, except where the test's script says otherwise. For each command
//! the script picks an [`Action`]: the normal reply, chosen reply bytes, a delay, the reply split into single
//! bytes, a stall (this connection never answers again), or a close. It also answers as a Sentinel naming
//! itself as the primary, so discovery can be made hostile too.
//!
//! It records every value range it handed out in a well-formed script reply (`issued`): a value a client
//! receives must lie in one of them, or the counter made it up. Part of the shared support: `support::hostile_redis`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A SHA the server hands out for SCRIPT LOAD (any 40 hex digits do: EVALSHA is answered by emulation).
pub const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// One command as the client sent it: the array's bulk strings.
#[derive(Debug, Clone)]
pub struct Command {
    pub args: Vec<Vec<u8>>,
}

impl Command {
    /// The command name, upper case, with the SCRIPT / SENTINEL subcommand: `EVALSHA`, `SCRIPT LOAD`.
    pub fn name(&self) -> String {
        let word = |i: usize| self.args.get(i).map(|a| String::from_utf8_lossy(a).to_uppercase()).unwrap_or_default();
        match word(0).as_str() {
            "SCRIPT" | "SENTINEL" => format!("{} {}", word(0), word(1)),
            w => w.to_string(),
        }
    }

    /// A script call's batch size (its last argument).
    pub fn batch_size(&self) -> Option<u64> {
        std::str::from_utf8(self.args.last()?).ok()?.parse().ok()
    }
}

/// What the server does with one command.
#[derive(Debug, Clone)]
pub enum Action {
    /// Answer as the emulated Redis would.
    Normal,
    /// Send these bytes instead (a script call is then not run: the counter does not advance).
    Reply(Vec<u8>),
    /// Wait, then answer normally (the connection answers nothing else meanwhile, as Redis would not).
    Delay(Duration),
    /// Answer normally, one byte per write with a short pause between.
    Bytewise,
    /// Never answer this or any later command on this connection.
    Stall,
    /// Close the connection instead of answering.
    Close,
}

/// The test's script: the command, and how many commands of that name the server has seen before (all
/// connections), to pick "the third EVALSHA".
pub type Script = Box<dyn FnMut(&Command, usize) -> Action + Send>;

#[derive(Default)]
struct Shared {
    counter: i64,
    issued: Vec<(u64, u64)>,
    seen: Vec<(String, usize)>,
    /// Actions other than `Normal` taken so far.
    fired: usize,
    connections: usize,
}

pub struct HostileRedis {
    pub port: u16,
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl HostileRedis {
    pub fn start(script: Script) -> HostileRedis {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let script = Arc::new(Mutex::new(script));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&shared), Arc::clone(&stop));
        let accept = std::thread::spawn(move || accept_loop(listener, port, s, script, st));
        HostileRedis { port, shared, stop, accept: Some(accept) }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Every value range handed out in a well-formed script reply.
    pub fn issued(&self) -> Vec<(u64, u64)> {
        self.shared.lock().unwrap().issued.clone()
    }

    /// True when `value` lies in a range the server handed out.
    pub fn was_issued(&self, value: u64) -> bool {
        self.shared.lock().unwrap().issued.iter().any(|&(a, b)| (a..=b).contains(&value))
    }

    /// Scripted (non-`Normal`) actions taken so far.
    pub fn fired(&self) -> usize {
        self.shared.lock().unwrap().fired
    }

    pub fn connections(&self) -> usize {
        self.shared.lock().unwrap().connections
    }

    /// Sets the emulated counter (the key set negative, reset...).
    pub fn set_counter(&self, value: i64) {
        self.shared.lock().unwrap().counter = value;
    }
}

impl Drop for HostileRedis {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    port: u16,
    shared: Arc<Mutex<Shared>>,
    script: Arc<Mutex<Script>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                shared.lock().unwrap().connections += 1;
                let (s, sc, st) = (Arc::clone(&shared), Arc::clone(&script), Arc::clone(&stop));
                std::thread::spawn(move || serve(stream, port, s, sc, st));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn serve(stream: TcpStream, port: u16, shared: Arc<Mutex<Shared>>, script: Arc<Mutex<Script>>, stop: Arc<AtomicBool>) {
    stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let _ = stream.set_nodelay(true);
    let mut out = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut stalled = false;
    while !stop.load(Ordering::Relaxed) {
        let command = match read_command(&mut reader, &stop) {
            Some(command) => command,
            None => return,
        };
        if stalled {
            continue; // read and drop, like a Redis stuck in a long script
        }
        let name = command.name();
        let action = {
            let mut sh = shared.lock().unwrap();
            let nth = match sh.seen.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    sh.seen.push((name.clone(), 1));
                    0
                }
            };
            let action = (script.lock().unwrap())(&command, nth);
            if !matches!(action, Action::Normal) {
                sh.fired += 1;
            }
            action
        };
        let bytes = match &action {
            Action::Reply(bytes) => bytes.clone(),
            Action::Stall => {
                stalled = true;
                continue;
            }
            Action::Close => {
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            _ => normal_reply(&command, port, &shared),
        };
        if let Action::Delay(d) = action {
            std::thread::sleep(d);
        }
        let written = if matches!(action, Action::Bytewise) {
            bytes.iter().try_for_each(|b| {
                std::thread::sleep(Duration::from_micros(200));
                out.write_all(std::slice::from_ref(b))
            })
        } else {
            out.write_all(&bytes)
        };
        if written.is_err() {
            return;
        }
    }
}

/// Reads one RESP array of bulk strings; None when the peer closed or the server stops.
fn read_command(r: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<Command> {
    let header = read_line(r, stop)?;
    let n: usize = header.strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let len: usize = read_line(r, stop)?.strip_prefix('$')?.parse().ok()?;
        let mut arg = vec![0; len + 2];
        read_exact(r, &mut arg, stop)?;
        arg.truncate(len);
        args.push(arg);
    }
    Some(Command { args })
}

fn read_line(r: &mut BufReader<TcpStream>, stop: &AtomicBool) -> Option<String> {
    let mut line = String::new();
    loop {
        match r.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) if line.ends_with("\r\n") => return Some(line.trim_end().to_string()),
            Ok(_) => {}
            Err(e) if is_timeout(&e) && !stop.load(Ordering::Relaxed) => {}
            Err(_) => return None,
        }
    }
}

fn read_exact(r: &mut BufReader<TcpStream>, buf: &mut [u8], stop: &AtomicBool) -> Option<()> {
    let mut at = 0;
    while at < buf.len() {
        match r.read(&mut buf[at..]) {
            Ok(0) => return None,
            Ok(n) => at += n,
            Err(e) if is_timeout(&e) && !stop.load(Ordering::Relaxed) => {}
            Err(_) => return None,
        }
    }
    Some(())
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// What a Redis running the counter's script answers (a Sentinel's question names this server itself).
fn normal_reply(command: &Command, port: u16, shared: &Mutex<Shared>) -> Vec<u8> {
    match command.name().as_str() {
        "AUTH" | "SELECT" | "ASKING" => b"+OK\r\n".to_vec(),
        "PING" => b"+PONG\r\n".to_vec(),
        "ROLE" => b"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n".to_vec(),
        "SCRIPT LOAD" => format!("${}\r\n{SHA}\r\n", SHA.len()).into_bytes(),
        "SENTINEL GET-MASTER-ADDR-BY-NAME" => {
            format!("*2\r\n$9\r\n127.0.0.1\r\n${}\r\n{port}\r\n", port.to_string().len()).into_bytes()
        }
        "WAIT" => {
            let n = command.args.get(1).map(|a| String::from_utf8_lossy(a).to_string()).unwrap_or_default();
            format!(":{n}\r\n").into_bytes()
        }
        // The handshake's process-identity probe (`EVAL <probe> 0`): one process, for the server's life.
        "EVAL" if command.args.get(2).map(Vec::as_slice) == Some(b"0") => {
            let run = format!("{SHA}:{SHA}");
            format!("${}\r\n{run}\r\n", run.len()).into_bytes()
        }
        "EVALSHA" | "EVAL" => {
            let k = command.batch_size().unwrap_or(0) as i64;
            let mut sh = shared.lock().unwrap();
            sh.counter += k;
            let last = sh.counter;
            if k > 0 && last >= k {
                sh.issued.push(((last - k + 1) as u64, last as u64));
            }
            pair(last, now_secs())
        }
        _ => b"-ERR unknown command\r\n".to_vec(),
    }
}

/// The script's reply for a value and a time, nothing skipped or lifted, in its full shape
/// `*5 :hi :lo :seconds :0 :0` with value = hi * 10^9 + lo (`script::BatchReply`; hi is 0 below 2^53). The
/// script sends `*2 :value :seconds` for this case; the link takes either.
pub fn pair(value: i64, seconds: i64) -> Vec<u8> {
    format!("*5\r\n:0\r\n:{value}\r\n:{seconds}\r\n:0\r\n:0\r\n").into_bytes()
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
