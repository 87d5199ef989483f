//! One running Flint per data directory. A later launch (`flint --quick-prompt` bound to
//! a desktop shortcut, `flint ~/code/x` from a terminal, a click on the launcher) hands
//! what it was asked to the running app and exits.
//!
//! On Linux and macOS this is a lock file and a Unix socket in the data directory: the
//! first instance holds an exclusive lock on `instance.lock` for its lifetime and
//! listens on `instance.sock`; a later one finds the lock taken, sends its request as
//! one JSON line, waits for "ok" and exits. The kernel drops the lock when its holder
//! dies, so a crash leaves nothing stale. (tauri-plugin-single-instance does the same
//! over D-Bus on Linux, which does not exist in a session without a bus: containers,
//! Xvfb, some minimal desktops; its Windows implementation is used on Windows.)

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a launch asks the running app for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// Open the quick prompt.
    pub quick_prompt: bool,
    /// Open this folder (or a file's folder) as the project; absolute.
    pub path: Option<PathBuf>,
}

impl Launch {
    pub fn new(path: Option<PathBuf>, quick_prompt: bool) -> Self {
        let path = path.map(|p| {
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
            }
        });
        Self { quick_prompt, path }
    }
}

pub enum Claim {
    /// This is the first instance; serve later launches with `Primary::serve`.
    Primary(Primary),
    /// The running instance took the request; exit.
    Forwarded,
}

#[cfg(unix)]
pub use unix::{claim, Primary, Release};

#[cfg(unix)]
mod unix {
    use std::fs::{File, OpenOptions, TryLockError};
    use std::io::{self, BufRead, BufReader, Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::{Path, PathBuf};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{Claim, Launch};

    const MAX_MESSAGE: u64 = 64 * 1024;

    /// The first instance's hold: the lock and the listening socket.
    pub struct Primary {
        lock: Arc<File>,
        listener: UnixListener,
        socket: PathBuf,
    }

    /// Lets go of the hold while the app shuts down, so a launch in the meantime
    /// starts a new Flint instead of talking to one that is going away.
    #[derive(Clone)]
    pub struct Release {
        lock: Arc<File>,
        socket: PathBuf,
    }

    impl Release {
        pub fn release(&self) {
            let _ = std::fs::remove_file(&self.socket);
            let _ = self.lock.unlock();
        }
    }

    /// Becomes the running instance, or hands `launch` to the one that is. A running
    /// instance that is shutting down has let go of its lock: then this one takes it.
    pub fn claim(data_dir: &Path, launch: &Launch) -> io::Result<Claim> {
        std::fs::create_dir_all(data_dir)?;
        // The socket is bound inside a folder only the user can enter, so there is no
        // moment (between bind and chmod) another user could reach it.
        std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(data_dir.join("instance.lock"))?;
        let socket = data_dir.join("instance.sock");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match lock.try_lock() {
                Ok(()) => {
                    // First: a socket file left here is from an instance that died.
                    let _ = std::fs::remove_file(&socket);
                    let listener = UnixListener::bind(&socket)?;
                    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
                    return Ok(Claim::Primary(Primary {
                        lock: Arc::new(lock),
                        listener,
                        socket,
                    }));
                }
                Err(TryLockError::WouldBlock) => match forward(&socket, launch) {
                    Ok(()) => return Ok(Claim::Forwarded),
                    // Not listening yet, or going away: look again.
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50))
                    }
                    Err(e) => return Err(e),
                },
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
    }

    /// Sends `launch` to the running instance and waits for its "ok".
    fn forward(socket: &Path, launch: &Launch) -> io::Result<()> {
        let mut stream = UnixStream::connect(socket)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_write_timeout(Some(Duration::from_secs(10)))?;
        let mut line = serde_json::to_vec(launch).map_err(io::Error::other)?;
        line.push(b'\n');
        stream.write_all(&line)?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply)?;
        if reply.trim() == "ok" {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "the running Flint answered {:?}",
                reply.trim()
            )))
        }
    }

    /// Reads one launch request (a line, bounded in size and time) and answers it.
    fn answer(mut stream: UnixStream, on_launch: &(dyn Fn(Launch) + Send + Sync)) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let mut line = String::new();
        let read = BufReader::new((&stream).take(MAX_MESSAGE)).read_line(&mut line);
        let reply = match read
            .ok()
            .and_then(|_| serde_json::from_str::<Launch>(&line).ok())
        {
            Some(launch) => {
                on_launch(launch);
                "ok\n"
            }
            None => "bad request\n",
        };
        let _ = stream.write_all(reply.as_bytes());
    }

    /// Whether the process at the other end of `stream` runs as this user.
    pub(super) fn same_user(stream: &UnixStream) -> bool {
        let me = nix::unistd::getuid();
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
            getsockopt(stream, PeerCredentials).is_ok_and(|c| c.uid() == me.as_raw())
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            nix::unistd::getpeereid(stream).is_ok_and(|(uid, _)| uid == me)
        }
    }

    impl Primary {
        /// Serves later launches on a thread of its own, calling `on_launch` for each.
        pub fn serve(self, on_launch: impl Fn(Launch) + Send + Sync + 'static) -> Release {
            let release = Release {
                lock: self.lock.clone(),
                socket: self.socket.clone(),
            };
            std::thread::spawn(move || {
                let Primary {
                    lock,
                    listener,
                    socket,
                } = self;
                let on_launch = Arc::new(on_launch);
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    // Only the user's own processes may ask anything of their Flint.
                    if !same_user(&stream) {
                        continue;
                    }
                    // One short-lived thread per client: a client that connects and says
                    // nothing cannot hold up the launches after it.
                    let on_launch = on_launch.clone();
                    std::thread::spawn(move || answer(stream, &*on_launch));
                }
                let _ = std::fs::remove_file(socket);
                drop(lock);
            });
            release
        }
    }
}

/// Windows: tauri-plugin-single-instance (a named mutex and a window message) is added
/// to the app in `lib.rs`; here every launch is the first.
#[cfg(not(unix))]
pub struct Primary;

#[cfg(not(unix))]
#[derive(Clone)]
pub struct Release;

#[cfg(not(unix))]
impl Release {
    pub fn release(&self) {}
}

#[cfg(not(unix))]
impl Primary {
    pub fn serve(self, _on_launch: impl Fn(Launch) + Send + Sync + 'static) -> Release {
        Release
    }
}

#[cfg(not(unix))]
pub fn claim(_data_dir: &std::path::Path, _launch: &Launch) -> std::io::Result<Claim> {
    Ok(Claim::Primary(Primary))
}

/// Where the lock and socket live: the app's data directory.
pub fn data_dir() -> Option<PathBuf> {
    flint_core::Paths::from_env().ok().map(|p| p.data_dir)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn a_second_launch_hands_its_request_to_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let Claim::Primary(primary) = claim(dir.path(), &Launch::default()).unwrap() else {
            panic!("the first launch must be the primary");
        };
        let (tx, rx) = mpsc::channel();
        let _release = primary.serve(move |l| tx.send(l).unwrap());
        let asked = Launch::new(Some(PathBuf::from("/tmp/some project")), true);
        assert!(matches!(
            claim(dir.path(), &asked).unwrap(),
            Claim::Forwarded
        ));
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), asked);
    }

    #[test]
    fn an_instance_shutting_down_lets_the_next_launch_start_anew() {
        let dir = tempfile::tempdir().unwrap();
        let Claim::Primary(first) = claim(dir.path(), &Launch::default()).unwrap() else {
            panic!("the first launch must be the primary");
        };
        let release = first.serve(|_| {});
        release.release();
        assert!(matches!(
            claim(dir.path(), &Launch::default()).unwrap(),
            Claim::Primary(_)
        ));
    }

    /// The socket's folder is the user's alone, the user's own connection is let in,
    /// and a client that connects and says nothing holds up no later launch.
    #[test]
    fn the_socket_is_private_and_a_silent_client_blocks_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let Claim::Primary(primary) = claim(&data, &Launch::default()).unwrap() else {
            panic!("the first launch must be the primary");
        };
        let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let (tx, rx) = mpsc::channel();
        let _release = primary.serve(move |l| tx.send(l).unwrap());
        let silent = std::os::unix::net::UnixStream::connect(data.join("instance.sock")).unwrap();
        assert!(unix::same_user(&silent));
        let asked = Launch::new(Some(PathBuf::from("/tmp/p")), false);
        let started = std::time::Instant::now();
        assert!(matches!(claim(&data, &asked).unwrap(), Claim::Forwarded));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), asked);
        drop(silent);
    }

    #[test]
    fn relative_paths_are_made_absolute_where_the_launch_ran() {
        let l = Launch::new(Some(PathBuf::from("x")), false);
        assert!(l.path.unwrap().is_absolute());
        assert!(!Launch::new(None, false).quick_prompt);
    }
}
