//! Runs the fake Open-Meteo API: `fake-open-meteo [ADDR]` (default 127.0.0.1:0).
//! Prints `listening on http://ADDR` once it accepts connections.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let addr = addr.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let fake = mcp_e2e::fake::spawn(addr).await?;
    println!("listening on {}", fake.url());
    std::future::pending().await
}
