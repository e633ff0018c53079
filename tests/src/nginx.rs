//! Debian's nginx on loopback as the load balancer in front of several hosts:
//! round robin, no affinity, configured as an operator would put it in front of
//! `mcp-host` (see the README's "Many instances"). Unprivileged, in the
//! foreground, with its configuration, pid file, logs and temporary files in a
//! temporary folder. Stopped on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::Endpoint;

/// The nginx binary (`NGINX_BIN`, else the Makefile's install in the tools cache).
fn nginx_bin() -> PathBuf {
    let default =
        std::env::var("HOME").map(|home| format!("{home}/.cache/mcp-wasm-tools/nginx-debian/usr/sbin/nginx"));
    let path = std::env::var_os("NGINX_BIN").map(PathBuf::from).or(default.ok().map(PathBuf::from));
    let path = path.expect("NGINX_BIN or HOME is set");
    assert!(path.exists(), "{} not found (set NGINX_BIN, or run `make nginx`)", path.display());
    path
}

/// Whether this process runs as root: then nginx's workers would switch to
/// `nobody` and could not write to the temporary folder, so they stay root.
fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// The configuration: one `upstream` of the hosts, every request of every
/// client spread over them in turn.
fn config(dir: &std::path::Path, listen: SocketAddr, hosts: &[SocketAddr]) -> String {
    let dir = dir.display();
    let servers: String =
        hosts.iter().map(|h| format!("        server {h} max_fails=1 fail_timeout=10s;\n")).collect();
    let user = if is_root() { "user root;\n" } else { "" };
    format!(
        r#"daemon off;
{user}worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format upstream '$status $upstream_addr $upstream_status "$request"';
    access_log {dir}/access.log upstream;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;

    upstream hosts {{
{servers}        keepalive 64;
        # Shorter than the hosts' idle timeouts, so that nginx, not a host,
        # closes an idle connection: never a request sent onto a closing one.
        keepalive_timeout 1s;
    }}
    server {{
        listen {listen};
        location / {{
            proxy_pass http://hosts;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            # Streamed answers (SSE) pass through as they are written.
            proxy_buffering off;
            proxy_read_timeout 300s;
            proxy_connect_timeout 2s;
            # A host that refuses the connection (stopped) or times out is skipped;
            # a POST already sent is not sent twice.
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
        }}
    }}
}}
"#
    )
}

/// nginx balancing over some hosts; talk to it as an [`Endpoint`] (it derefs to one).
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    endpoint: Endpoint,
}

impl Nginx {
    /// Starts nginx in front of `hosts` and returns once it accepts connections.
    pub fn start(hosts: &[SocketAddr]) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let listen = SocketAddr::from(([127, 0, 0, 1], port));
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, config(dir.path(), listen, hosts)).expect("write nginx.conf");
        let mut child = Command::new(nginx_bin())
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(listen).is_err() {
            let exited = child.try_wait().expect("nginx can be waited for");
            assert!(exited.is_none(), "nginx exited ({exited:?}): {}", read(&dir.path().join("error.log")));
            assert!(Instant::now() < deadline, "nginx did not listen on {listen}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, dir, endpoint: Endpoint::new(listen) }
    }

    /// The access log: per request, its status, the upstream(s) tried and their statuses.
    pub fn access_log(&self) -> String {
        read(&self.dir.path().join("access.log"))
    }

    /// The error log (warnings and worse).
    pub fn error_log(&self) -> String {
        read(&self.dir.path().join("error.log"))
    }
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

impl std::ops::Deref for Nginx {
    type Target = Endpoint;

    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, so that the master stops its workers too; SIGKILL would orphan them.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
