//! Terminal UI: frame time of a 10,000-message conversation against small baselines, and
//! time from process start to the unlock prompt, same run, same machine.
//!
//! ```text
//! cargo bench -p cairn-tui --bench tui
//! ```
//!
//! - `frame/*`: one `Terminal::draw` of the main screen on ratatui's `TestBackend`
//!   (layout, wrapping, buffer writes and the diff; no terminal I/O). Baselines: the
//!   empty main screen and a 50-message conversation. Target: 10,000 messages <= 2 ms
//!   (only the visible lines are laid out, so it should cost what 50 cost).
//! - `startup/*`: `cairn --bench-exit-after-first-frame` under `script` (a real pty, 80×24)
//!   with an existing profile, so the first frame is the unlock prompt; baseline: the same
//!   `script` running `true`. The difference is process start → unlock prompt drawn.
//!
//! The ratios are printed at the end. Benchmarks are never timed tests.

use cairn_node::api::{ContactInfo, Event, MessageDirection, MessageInfo, MessageState};
use cairn_tui::app::{update, Action, App, Screen};
use cairn_tui::config::Settings;
use criterion::Criterion;
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static RESULTS: Mutex<BTreeMap<&'static str, (u64, Duration)>> = Mutex::new(BTreeMap::new());

fn record(name: &'static str, iters: u64, total: Duration) {
    let mut r = RESULTS.lock().unwrap();
    let e = r.entry(name).or_insert((0, Duration::ZERO));
    e.0 += iters;
    e.1 += total;
}

fn mean(name: &str) -> Option<Duration> {
    let r = RESULTS.lock().unwrap();
    r.get(name)
        .filter(|(n, _)| *n > 0)
        .map(|(n, d)| *d / u32::try_from(*n).unwrap_or(u32::MAX))
}

const NOW: u64 = 1_700_000_000_000;

/// The main screen with one conversation of `n` messages of chat-like lengths.
fn app_with(n: usize, size: (u16, u16)) -> App {
    let mut app = App::new(Screen::Main, Settings::default(), size);
    app.now_ms = NOW;
    let mut fx = update(
        &mut app,
        Action::NodeStarted {
            profile: "bench".into(),
            lan: false,
            relay: false,
            hidden: false,
        },
    );
    if n == 0 {
        return app;
    }
    fx.extend(update(
        &mut app,
        Action::Node(Event::Contacts {
            contacts: vec![ContactInfo {
                alias: "alice".into(),
                verified: true,
                online: true,
                established: true,
                blocked: false,
                protocol: Some(2),
                messages: n,
            }],
        }),
    ));
    let words = "the quick brown fox jumps over the lazy dog and keeps running far away";
    let messages = (0..n)
        .map(|i| MessageInfo {
            id: format!("{i:032x}").into(),
            direction: if i % 3 == 0 {
                MessageDirection::Out
            } else {
                MessageDirection::In
            },
            text: words[..10 + (i * 7) % (words.len() - 10)].to_owned(),
            sent_at: NOW - (n - i) as u64 * 1000,
            state: if i % 3 == 0 {
                MessageState::Delivered
            } else {
                MessageState::Received
            },
        })
        .collect();
    update(
        &mut app,
        Action::Node(Event::History {
            with: "alice".into(),
            messages,
        }),
    );
    app
}

fn bench_frame(c: &mut Criterion, name: &'static str, app: &App) {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                terminal.draw(|f| cairn_tui::view::draw(f, app)).unwrap();
            }
            let d = start.elapsed();
            record(name, iters, d);
            d
        })
    });
}

fn frames(c: &mut Criterion) {
    bench_frame(c, "frame/empty_80x24", &app_with(0, (80, 24)));
    bench_frame(c, "frame/conv_50_80x24", &app_with(50, (80, 24)));
    bench_frame(c, "frame/conv_10k_80x24", &app_with(10_000, (80, 24)));
    bench_frame(c, "frame/conv_10k_200x60", &app_with(10_000, (200, 60)));
    let mut scrolled = app_with(10_000, (80, 24));
    // Page up half-way through the conversation.
    for _ in 0..2_000 {
        update(
            &mut scrolled,
            Action::Key(ratatui::crossterm::event::KeyEvent::new(
                ratatui::crossterm::event::KeyCode::PageUp,
                ratatui::crossterm::event::KeyModifiers::NONE,
            )),
        );
    }
    bench_frame(c, "frame/conv_10k_scrolled_80x24", &scrolled);
}

fn script(cmd: &str) -> Command {
    let mut c = Command::new("script");
    c.args([
        "-qec",
        &format!("stty cols 80 rows 24; exec {cmd}"),
        "/dev/null",
    ]);
    c.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

fn startup(c: &mut Criterion) {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("`script` (util-linux) not found: skipping the startup bench");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_cairn");
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("pass");
    std::fs::write(&pass, "bench passphrase\n").unwrap();
    let profile = dir.path().join("profile");
    let ok = Command::new(bin)
        .arg("--profile")
        .arg(&profile)
        .arg("--passphrase-file")
        .arg(&pass)
        .args(["init", "--name", "bench"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let cairn = format!(
        "{bin} --profile {} --config /nonexistent --bench-exit-after-first-frame",
        profile.display()
    );
    let mut g = c.benchmark_group("startup");
    g.sample_size(20);
    for (name, cmd) in [
        ("startup/script_true", "true".to_owned()),
        ("startup/cairn_unlock_prompt", cairn),
    ] {
        g.bench_function(name.trim_start_matches("startup/"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    let st = script(&cmd).status().unwrap();
                    assert!(st.success());
                }
                let d = start.elapsed();
                record(name, iters, d);
                d
            })
        });
    }
    g.finish();
}

fn summary() {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("\n== cairn-tui frame time (same run) ==");
    let base = mean("frame/conv_50_80x24");
    for name in [
        "frame/empty_80x24",
        "frame/conv_50_80x24",
        "frame/conv_10k_80x24",
        "frame/conv_10k_200x60",
        "frame/conv_10k_scrolled_80x24",
    ] {
        if let (Some(m), Some(b)) = (mean(name), base) {
            println!(
                "{name:<32} {:>9.3} ms   {:>5.2}x the 50-message frame",
                ms(m),
                m.as_secs_f64() / b.as_secs_f64()
            );
        }
    }
    if let (Some(t), Some(c)) = (
        mean("startup/script_true"),
        mean("startup/cairn_unlock_prompt"),
    ) {
        println!("\n== process start -> unlock prompt (same run) ==");
        println!("script + true (baseline)          {:>9.2} ms", ms(t));
        println!("script + cairn to unlock prompt   {:>9.2} ms", ms(c));
        println!(
            "difference (cairn start -> prompt){:>9.2} ms   ratio {:.2}x",
            ms(c.saturating_sub(t)),
            c.as_secs_f64() / t.as_secs_f64()
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    frames(&mut c);
    startup(&mut c);
    c.final_summary();
    summary();
}
