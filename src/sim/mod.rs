//! The embedded simulated inference server (interface stub).

use std::net::SocketAddr;
use std::time::Duration;

pub mod args;

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub host: String,
    pub port: u16,
}

impl SimConfig {
    /// The default profile on an ephemeral loopback port.
    pub fn default_loopback() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
        }
    }

    /// Every request gets exactly this TTFT and ITL, whatever the load.
    pub fn fixed(_ttft: Duration, _itl: Duration) -> Self {
        Self::default_loopback()
    }
}

pub struct SimHandle {
    pub addr: SocketAddr,
}

impl SimHandle {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn shutdown(self) {}
}

pub async fn start(_config: SimConfig) -> std::io::Result<SimHandle> {
    Err(std::io::Error::other("stub"))
}

pub async fn serve_cli(_args: args::SimArgs) -> anyhow::Result<()> {
    anyhow::bail!("stub")
}
