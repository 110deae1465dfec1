//! The server: N workers, each a thread with its own poll loop and listener. Starting binds every listener
//! first, so a bad address fails before any thread runs.

pub mod batches;
pub mod clock;
pub mod conn;
pub mod connections;
pub mod listener;
pub mod signals;
pub mod worker;

use std::io;
use std::net::SocketAddr;
use std::thread::JoinHandle;

use mio::{Poll, Waker};

use crate::app::App;
use crate::config::{RedisTarget, Timeouts};
use crate::cpu;
use crate::sync::Arc;

pub struct Server {
    pub addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
    wakers: Vec<Waker>,
}

impl Server {
    /// Binds `workers` listeners on `addr` and starts one thread per worker. `pin` lists CPUs to pin workers to
    /// (worker i gets `pin[i % len]`); empty means no pinning.
    pub fn start(
        addr: SocketAddr,
        workers: usize,
        pin: &[usize],
        timeouts: Timeouts,
        redis: Option<RedisTarget>,
        app: Arc<App>,
    ) -> io::Result<Server> {
        if workers.max(1) > app.metrics.workers() {
            // Each worker records into its own slot, written by it alone: a shared slot would lose counts.
            let why = format!("{workers} workers but metrics slots for {}", app.metrics.workers());
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let (listeners, addr) = listener::bind_all(addr, workers.max(1))?;
        let mut threads = Vec::with_capacity(listeners.len());
        let mut wakers = Vec::with_capacity(listeners.len());
        for (id, listener) in listeners.into_iter().enumerate() {
            let poll = Poll::new()?;
            wakers.push(Waker::new(poll.registry(), worker::WAKER)?);
            let worker = worker::Worker::new(id, poll, listener, Arc::clone(&app), timeouts, redis.clone())?;
            let cpu = (!pin.is_empty()).then(|| pin[id % pin.len()]);
            let thread = std::thread::Builder::new().name(format!("worker-{id}")).spawn(move || {
                if let Some(cpu) = cpu {
                    cpu::pin_current_thread(cpu);
                }
                worker.run();
            })?;
            threads.push(thread);
        }
        Ok(Server { addr, threads, wakers })
    }

    /// Wakes every worker so it notices a lifecycle change at once instead of at its next tick.
    pub fn wake_all(&self) {
        for waker in &self.wakers {
            let _ = waker.wake();
        }
    }

    /// Waits for every worker to finish.
    pub fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
