//! A bounded soak of the supervisor: random signals and worker kills for a
//! minute while clients keep sending requests over loopback. Not part of the
//! normal test run; start it with
//!
//! ```text
//! cargo test -p integration-tests --test soak -- --ignored --nocapture
//! ```
//!
//! It reports and asserts zero zombies, zero orphans and zero crashes of the
//! main process. `SOAK_SECONDS` changes the duration (default 60).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use integration_tests::{
    Running, children_of, config_file, example, is_running, probe_http as http, probe_port, reap,
    stat, try_signal,
};

/// A small xorshift generator: deterministic for a seed, no dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[test]
#[ignore = "a one-minute soak; run it on purpose"]
fn random_signals_and_kills_leave_no_zombie_no_orphan_and_no_crash() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let text = "[DEFAULT]\ngraceful_shutdown_timeout = 10\n[probe]\ntick_spacing = 0.2\n";
    let (_dir, conf) = config_file("soak.conf", text);
    let mut service = Running::start(
        &example("probe"),
        &["--workers", "4", "--config-file", conf.to_str().unwrap()],
        &[],
    );
    let port = probe_port(&service);
    service.wait_for_lines(&["all workers ready"], 1);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let counter = if http::get(port, "/ping").is_ok() {
                        &ok
                    } else {
                        &failed
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();

    let mut random = Random(seed);
    let mut actions = [0u32; 4];
    let mut zombies_seen = 0;
    let mut seen_workers = Vec::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        assert!(
            is_running(service.pid()),
            "the main process crashed:\n{}",
            service.log()
        );
        let workers = children_of(service.pid());
        seen_workers.extend(workers.iter().copied());
        zombies_seen += count_lingering_zombies(service.pid());
        let action = random.below(4) as usize;
        actions[action] += 1;
        match action {
            0 => service.signal(libc::SIGHUP),
            1 | 2 if !workers.is_empty() => {
                let victim = workers[random.below(workers.len() as u64) as usize];
                let signal = if action == 1 {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                };
                try_signal(victim, signal);
            }
            _ => service.signal(libc::SIGUSR1),
        }
        std::thread::sleep(Duration::from_millis(100 + random.below(200)));
    }

    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    service.signal(libc::SIGTERM);
    let code = service.wait_exit_code();
    seen_workers.sort_unstable();
    seen_workers.dedup();
    let orphans: Vec<i32> = seen_workers
        .iter()
        .copied()
        .filter(|&pid| !reap(pid, Duration::from_secs(2)))
        .collect();
    println!(
        "soak: {seconds} s, actions HUP/KILL/TERM/USR1 = {actions:?}, requests ok {} failed {}, \
         workers seen {}, lingering zombies {zombies_seen}, orphans {}, exit code {code}",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        seen_workers.len(),
        orphans.len()
    );
    assert_eq!(zombies_seen, 0, "zombies lingered");
    assert!(orphans.is_empty(), "orphans: {orphans:?}");
    assert_eq!(code, 0, "log:\n{}", service.log());
}

/// Children of `parent` that are zombies and still are 500 ms later: the
/// supervisor failed to reap them.
fn count_lingering_zombies(parent: i32) -> usize {
    let zombies = zombie_children(parent);
    if zombies.is_empty() {
        return 0;
    }
    std::thread::sleep(Duration::from_millis(500));
    zombie_children(parent)
        .iter()
        .filter(|pid| zombies.contains(pid))
        .count()
}

fn zombie_children(parent: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|(state, ppid)| ppid == parent && state == 'Z'))
        .collect()
}
