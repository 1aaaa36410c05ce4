//! A TCP relay in front of a server whose connections a test can cut (a network failure
//! between two servers) and that can refuse new ones for a while. Used by the replication
//! tests (`#[path = "common/relay.rs"] mod relay;`).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The relay: its port, the connections it carries, and whether it refuses new ones.
pub struct Relay {
    /// The relay's port on 127.0.0.1.
    pub port: u16,
    open: Arc<Mutex<Vec<TcpStream>>>,
    down: Arc<AtomicBool>,
}

impl Relay {
    /// A relay to 127.0.0.1:`upstream` on a free port.
    pub fn start(upstream: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay listener");
        let port = listener.local_addr().expect("addr").port();
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let down = Arc::new(AtomicBool::new(false));
        let (o, dn) = (open.clone(), down.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if dn.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                for s in [&client, &server] {
                    if let Ok(c) = s.try_clone() {
                        o.lock().unwrap().push(c);
                    }
                }
                for (mut from, mut to) in
                    [(client.try_clone().expect("clone"), server.try_clone().expect("clone")), (server, client)]
                {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, open, down }
    }

    /// `ldap://` URL of the relay.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Drops every relayed connection; with `stay_down`, refuses new ones until [`Relay::up`].
    pub fn cut(&self, stay_down: bool) {
        self.down.store(stay_down, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Accepts new connections again.
    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}
