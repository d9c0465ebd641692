//! PBKDF2-HMAC-SHA256 with the worker's own hashing code, compiled natively: the yardstick
//! for the same code compiled to wasm. Used by `scripts/bench.sh`.
//!
//!   cargo run --release --example pbkdf2 -- time ITERATIONS RUNS   one line per run: wall ms,
//!                                                                  then this thread's CPU ms
//!   cargo run --release --example pbkdf2 -- phc ITERATIONS         a PHC string for the
//!                                                                  password on stdin

use std::io::Read;
use std::process::ExitCode;
use std::time::Instant;

use recipe_api::security::password::hash_password_now;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|s| s.parse::<u32>().ok());
    match (args.first().map(String::as_str), number(1), number(2)) {
        (Some("time"), Some(iterations), Some(runs)) => {
            for _ in 0..runs {
                let (start, cpu_start) = (Instant::now(), thread_cpu_ms());
                hash_password_now("correct horse battery staple", iterations).expect("hash");
                let wall = start.elapsed().as_secs_f64() * 1e3;
                // Without Linux's per-thread counter, wall time stands in for CPU time.
                let cpu = thread_cpu_ms()
                    .zip(cpu_start)
                    .map_or(wall, |(end, start)| end - start);
                println!("{wall:.3} {cpu:.3}");
            }
            ExitCode::SUCCESS
        }
        (Some("phc"), Some(iterations), None) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .expect("stdin");
            println!(
                "{}",
                hash_password_now(password.trim_end_matches('\n'), iterations).expect("hash")
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: pbkdf2 time ITERATIONS RUNS | pbkdf2 phc ITERATIONS < password");
            ExitCode::from(2)
        }
    }
}

/// This thread's CPU time in ms, from Linux's scheduler statistics (std has no CPU clock):
/// on a shared machine it does not grow when other work competes for the cores.
fn thread_cpu_ms() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanoseconds: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(nanoseconds / 1e6)
}
