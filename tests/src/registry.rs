//! Debian's `docker-registry` (the CNCF distribution registry) on loopback, for
//! the OCI source's tests: over TLS from a test CA with htpasswd basic auth, or
//! over plain HTTP anonymously. Stopped on drop; its storage is a temporary folder,
//! so a test can also do what an attacker with write access to it would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};

use crate::harness::{publish_bin, repo};

pub const USER: &str = "publisher";
pub const PASSWORD: &str = "correct horse battery staple";

/// The `docker-registry` binary (`DOCKER_REGISTRY_BIN`, else the Makefile's install).
fn registry_bin() -> PathBuf {
    let default = std::env::var("HOME").map(|home| {
        format!("{home}/.cache/mcp-wasm-tools/docker-registry-2.8.2+ds1-1/usr/bin/docker-registry")
    });
    let path = std::env::var_os("DOCKER_REGISTRY_BIN").map(PathBuf::from).or(default.ok().map(PathBuf::from));
    let path = path.expect("DOCKER_REGISTRY_BIN or HOME is set");
    assert!(
        path.exists(),
        "{} not found (set DOCKER_REGISTRY_BIN, or run `make oci-registry`)",
        path.display()
    );
    path
}

pub struct Registry {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    tls: bool,
}

impl Registry {
    /// Over TLS (a certificate for 127.0.0.1 from a CA of its own, in `ca_file`),
    /// with basic auth for `USER`.
    pub fn secure() -> Registry {
        Registry::start(true)
    }

    /// Over plain HTTP, anonymous.
    pub fn plain() -> Registry {
        Registry::start(false)
    }

    /// Over plain HTTP, accepting only tokens from the token server at `realm`
    /// for `service`, signed by `issuer` with the key of `certificate` (PEM).
    pub fn with_token_auth(realm: &str, service: &str, issuer: &str, certificate: &str) -> Registry {
        let mut registry = Registry::configure(false);
        let bundle = registry.dir.path().join("token-signer.pem");
        std::fs::write(&bundle, certificate).unwrap();
        let mut config = std::fs::read_to_string(registry.dir.path().join("config.yml")).unwrap();
        config.push_str(&format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {service}\n    issuer: {issuer}\n    rootcertbundle: {}\n",
            bundle.display()
        ));
        std::fs::write(registry.dir.path().join("config.yml"), config).unwrap();
        registry.resume();
        registry
    }

    fn start(tls: bool) -> Registry {
        let mut registry = Registry::configure(tls);
        registry.resume();
        registry
    }

    /// Its storage and configuration, not started yet.
    fn configure(tls: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let root = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n",
            root.join("storage").display()
        );
        if tls {
            let ca_key = KeyPair::generate().unwrap();
            let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
            ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            ca.distinguished_name.push(rcgen::DnType::CommonName, "mcp-host OCI test CA");
            std::fs::write(root.join("ca.pem"), ca.self_signed(&ca_key).unwrap().pem()).unwrap();
            let issuer = Issuer::new(ca, ca_key);
            let key = KeyPair::generate().unwrap();
            let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
            server.subject_alt_names.push(SanType::IpAddress([127, 0, 0, 1].into()));
            std::fs::write(root.join("cert.pem"), server.signed_by(&key, &issuer).unwrap().pem()).unwrap();
            std::fs::write(root.join("key.pem"), key.serialize_pem()).unwrap();
            let hash = bcrypt::hash(PASSWORD, 4).unwrap();
            std::fs::write(root.join("htpasswd"), format!("{USER}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: mcp-test\n    path: {}\n",
                root.join("cert.pem").display(),
                root.join("key.pem").display(),
                root.join("htpasswd").display()
            ));
        }
        std::fs::write(root.join("config.yml"), config).unwrap();
        Registry { child: None, dir, port, tls }
    }

    /// `127.0.0.1:PORT`, as references and `MCP_OCI_INSECURE` name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA that issued the registry's certificate (TLS only).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// What a client needs to reach it, as `MCP_OCI_*` variables.
    pub fn client_env(&self) -> Vec<(&'static str, String)> {
        if self.tls {
            vec![
                ("MCP_OCI_CA_FILE", self.ca_file().display().to_string()),
                ("MCP_OCI_USERNAME", USER.to_owned()),
                ("MCP_OCI_PASSWORD", PASSWORD.to_owned()),
            ]
        } else {
            vec![("MCP_OCI_INSECURE", self.host())]
        }
    }

    /// Stops it, as an outage would; its storage stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on its port, and waits until it answers.
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let mut child = Command::new(registry_bin())
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start docker-registry (make oci-registry)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "docker-registry exited");
            assert!(Instant::now() < deadline, "docker-registry did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child = Some(child);
    }

    /// Publishes `wasm` as `repository:tag` with the project's publisher
    /// (scripts/publish-component.sh --oci), signed with `key` (PKCS#8 PEM) if
    /// given; returns the manifest digest.
    pub fn publish(&self, repository: &str, tag: &str, wasm: &[u8], key: Option<&Path>) -> String {
        push(&self.host(), &self.client_env(), repository, tag, wasm, key)
    }

    /// Points `repository:tag` at the manifest `digest` by writing the registry's
    /// storage directly: a tag moved by someone who bypassed the publisher.
    pub fn retag(&self, repository: &str, tag: &str, digest: &str) {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let tag_dir = self.repository_dir(repository).join("_manifests/tags").join(tag);
        let index = tag_dir.join("index/sha256").join(hex);
        std::fs::create_dir_all(tag_dir.join("current")).unwrap();
        std::fs::create_dir_all(&index).unwrap();
        std::fs::write(index.join("link"), digest).unwrap();
        std::fs::write(tag_dir.join("current/link"), digest).unwrap();
    }

    /// Stores `manifest` as a manifest of `repository` tagged `tag`, straight
    /// into the registry's storage (past any check of the registry's own);
    /// returns its digest.
    pub fn plant_manifest(&self, repository: &str, tag: &str, manifest: &[u8]) -> String {
        use sha2::Digest as _;
        let hex: String = sha2::Sha256::digest(manifest).iter().map(|b| format!("{b:02x}")).collect();
        let blob = self.dir.path().join("storage/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(&hex);
        std::fs::create_dir_all(&blob).unwrap();
        std::fs::write(blob.join("data"), manifest).unwrap();
        let digest = format!("sha256:{hex}");
        let revision = self.repository_dir(repository).join("_manifests/revisions/sha256").join(&hex);
        std::fs::create_dir_all(&revision).unwrap();
        std::fs::write(revision.join("link"), &digest).unwrap();
        self.retag(repository, tag, &digest);
        digest
    }

    /// The manifest digest `repository:tag` points at, as the registry stores it.
    pub fn tag_target(&self, repository: &str, tag: &str) -> String {
        let link = self.repository_dir(repository).join("_manifests/tags").join(tag).join("current/link");
        std::fs::read_to_string(link).expect("the tag exists")
    }

    /// Flips one byte of the stored blob `digest` (`sha256:HEX`), keeping its size.
    pub fn corrupt_blob(&self, digest: &str) {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        let path = self
            .dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        let mut bytes = std::fs::read(&path).expect("the stored blob");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x55;
        std::fs::write(&path, bytes).unwrap();
    }

    fn repository_dir(&self, repository: &str) -> PathBuf {
        self.dir.path().join("storage/docker/registry/v2/repositories").join(repository)
    }
}

/// Publishes `wasm` as `host/repository:tag` with the project's publisher
/// (scripts/publish-component.sh --oci) and the `MCP_OCI_*` variables `env`,
/// signed with `key` (PKCS#8 PEM) if given; returns the manifest digest.
pub fn push(
    host: &str,
    env: &[(&str, String)],
    repository: &str,
    tag: &str,
    wasm: &[u8],
    key: Option<&Path>,
) -> String {
    let staging = tempfile::tempdir().unwrap();
    let file = staging.path().join("component.wasm");
    std::fs::write(&file, wasm).unwrap();
    let mut command = Command::new(repo().join("scripts/publish-component.sh"));
    command.arg("--oci").arg(format!("{host}/{repository}:{tag}"));
    if let Some(key) = key {
        command.arg("--sign-key").arg(key);
    }
    command.arg(&file).env("MCP_PUBLISH_BIN", publish_bin()).envs(env.iter().map(|(k, v)| (*k, v)));
    let output = command.stderr(Stdio::inherit()).output().expect("run publish-component.sh");
    assert!(output.status.success(), "publishing {repository}:{tag} failed");
    let digest = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(digest.starts_with("sha256:") && digest.len() == 71, "{digest:?}");
    digest
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An ECDSA P-256 key pair as cosign uses: the private key as PKCS#8 PEM and
/// the public one as SPKI PEM, written into `dir` as `NAME.key` and `NAME.pub`.
pub fn signing_key(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let (private, public) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
    std::fs::write(&private, key.serialize_pem()).unwrap();
    std::fs::write(&public, key.public_key_pem()).unwrap();
    (private, public)
}
