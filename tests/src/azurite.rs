//! Azurite, Azure Storage's emulator, on loopback, and a blob container in it
//! written with the official Azure Storage client for Node.js (`make blob-deps`):
//! where the blob source's tests put components, as an operator would.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{node_bin, repo};

/// Azurite on a free loopback port, in memory; stopped on drop.
pub struct Azurite {
    child: Child,
    pub connection_string: String,
}

impl Azurite {
    const KEY: &str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    pub fn start() -> Azurite {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(node_bin())
            .arg(repo().join("tests/blob/node_modules/azurite/dist/src/blob/main.js"))
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--inMemoryPersistence", "--disableTelemetry", "--silent", "--skipApiVersionCheck"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start Azurite (make blob-deps)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "Azurite exited");
            assert!(Instant::now() < deadline, "Azurite did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        let connection_string = format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={};\
             BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
            Azurite::KEY
        );
        Azurite { child, connection_string }
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A blob container driven with the official Azure Storage client for Node.js.
pub struct BlobStore {
    connection_string: String,
    container: String,
    staging: tempfile::TempDir,
}

impl BlobStore {
    /// The `components` container in `azurite`, created empty.
    pub async fn create(azurite: &Azurite) -> BlobStore {
        BlobStore::create_named(azurite, "components").await
    }

    /// The container `name` in `azurite`, created empty.
    pub async fn create_named(azurite: &Azurite, name: &str) -> BlobStore {
        let store = BlobStore {
            connection_string: azurite.connection_string.clone(),
            container: name.to_owned(),
            staging: tempfile::tempdir().unwrap(),
        };
        store.run(&["create"]).await;
        store
    }

    async fn run(&self, args: &[&str]) -> String {
        let output = tokio::process::Command::new(node_bin())
            .arg(repo().join("tests/blob/blob.mjs"))
            .args(args)
            .env("AZURE_STORAGE_CONNECTION_STRING", &self.connection_string)
            .env("BLOB_CONTAINER", &self.container)
            .stderr(std::process::Stdio::inherit())
            .output()
            .await
            .expect("run node");
        assert!(output.status.success(), "blob.mjs {args:?} failed");
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// The names of the blobs in the container.
    pub async fn list(&self) -> Vec<String> {
        self.run(&["list"]).await.lines().map(String::from).collect()
    }

    /// Uploads `bytes` as `blob`.
    pub async fn put(&self, blob: &str, bytes: &[u8]) {
        let file = self.staging.path().join(blob);
        std::fs::write(&file, bytes).unwrap();
        self.run(&["put", blob, file.to_str().unwrap()]).await;
    }

    pub async fn delete(&self, blob: &str) {
        self.run(&["delete", blob]).await;
    }
}
