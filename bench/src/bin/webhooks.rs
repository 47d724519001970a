//! `bench-webhooks`: the webhook measurements against a running `klinivo serve` (started with
//! KLINIVO_WEBHOOK_ALLOW_PRIVATE=true) over DATABASE_URL. Prints the phases as JSON.
//!
//!   bench-webhooks --api http://127.0.0.1:8080 --key kv_… --org <uuid> [--subscriptions 1,10,100]

use std::time::Duration;

use clap::Parser;
use klinivo_bench::webhooks::{self, Bench, Receiver};

#[derive(Parser, Debug)]
#[command(name = "bench-webhooks", about = "Webhook deliveries/s and commit-to-arrival latency")]
struct Args {
    /// The database (default: DATABASE_URL).
    #[arg(long)]
    database_url: Option<String>,
    /// Base URL of the running API.
    #[arg(long)]
    api: String,
    /// A key with MANAGE_WEBHOOKS of the organization.
    #[arg(long)]
    key: String,
    #[arg(long)]
    org: uuid::Uuid,
    #[arg(long, value_delimiter = ',', default_value = "1,10,100")]
    subscriptions: Vec<u32>,
    /// Highest event rate (events/s).
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Deliveries/s offered: the event rate is min(rate, offered / subscriptions).
    #[arg(long, default_value_t = 10_000.0)]
    offered: f64,
    /// Seconds of production per measurement.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Longest wait for the last deliveries, in seconds.
    #[arg(long, default_value_t = 60)]
    drain: u64,
}

#[tokio::main]
async fn main() -> Result<(), klinivo_bench::BoxError> {
    let args = Args::parse();
    let url = args.database_url.clone().or_else(|| std::env::var("DATABASE_URL").ok());
    let db = klinivo::db::connect(&url.ok_or("pass --database-url or set DATABASE_URL")?, 64).await?;
    let (receiver, port) = Receiver::start().await?;
    let bench = Bench {
        db: &db,
        api_base: args.api.clone(),
        key: args.key.clone(),
        org: args.org,
        receiver,
        receiver_port: port,
    };
    let (available, note, phases) = webhooks::measure(
        &bench,
        &args.subscriptions,
        args.rate,
        args.offered,
        Duration::from_secs(args.duration),
        Duration::from_secs(args.drain),
    )
    .await?;
    let out = serde_json::json!({"available": available, "note": note, "phases": phases});
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
