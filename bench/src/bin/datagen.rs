//! `bench-datagen`: seeds a realistic organization into a database and prints its id and a
//! full-permission key (high rate limit) as shell assignments:
//!
//!   eval "$(DATABASE_URL=postgres://… bench-datagen --patients 1000000 --appointments 5000000)"
//!   curl -H "X-API-Key: $KLINIVO_BENCH_KEY" …

use clap::Parser;
use klinivo_bench::datagen::{self, SeedOptions};

#[derive(Parser, Debug)]
#[command(name = "bench-datagen", about = "Seed a realistic organization for benchmarks")]
struct Args {
    /// The database (default: DATABASE_URL).
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 100_000)]
    patients: i64,
    #[arg(long, default_value_t = 500_000)]
    appointments: i64,
    /// Weeks ahead that are (half) booked.
    #[arg(long, default_value_t = 26)]
    future_weeks: i64,
    /// Apply Klinivo's migrations first.
    #[arg(long)]
    migrate: bool,
}

#[tokio::main]
async fn main() -> Result<(), klinivo_bench::BoxError> {
    let args = Args::parse();
    let url = args.database_url.clone().or_else(|| std::env::var("DATABASE_URL").ok());
    let url = url.ok_or("pass --database-url or set DATABASE_URL")?;
    let db = klinivo::db::connect(&url, 4).await?;
    if args.migrate {
        klinivo::db::migrate(&db).await?;
    }
    let opts = SeedOptions {
        patients: args.patients,
        appointments: args.appointments,
        future_weeks: args.future_weeks,
        ..SeedOptions::default()
    };
    let s = datagen::seed(&db, &opts).await?;
    eprintln!(
        "bench-datagen: organization {} with {} patients, {} appointments ({} .. {}), {} providers, in {:.1} s",
        s.organization_id,
        s.patients,
        s.appointments,
        s.first_day,
        s.last_day,
        s.providers.len(),
        s.seconds
    );
    println!("KLINIVO_BENCH_ORG={}", s.organization_id);
    println!("KLINIVO_BENCH_KEY={}", s.key);
    Ok(())
}
