//! The command line shared by the walkthrough examples: `[--quick] [--cache DIR] [--seed S]
//! OUT_DIR`, plus whatever options an example adds.

use std::path::PathBuf;

/// The result type of the examples.
pub type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The options every walkthrough takes.
pub struct CommonArgs {
    /// Where the page, figures and results go.
    pub out: PathBuf,
    /// Where trained models are cached.
    pub cache: PathBuf,
    /// The seed of every draw.
    pub seed: u64,
    /// Tiny sizes that exercise the code paths in seconds.
    pub quick: bool,
}

/// Parses the process arguments. `extra(option, rest)` is offered every option this parser does
/// not know first; it returns `Ok(true)` when it took the option (and any value from `rest`).
pub fn parse_args(
    usage: &str,
    default_seed: u64,
    mut extra: impl FnMut(&str, &mut dyn Iterator<Item = String>) -> Res<bool>,
) -> Res<CommonArgs> {
    let mut out = None;
    let mut cache = PathBuf::from("target/walkthrough-cache");
    let mut seed = default_seed;
    let mut quick = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--cache" => cache = PathBuf::from(args.next().ok_or("--cache needs a DIR")?),
            "--seed" => seed = args.next().ok_or("--seed needs a number")?.parse()?,
            "-h" | "--help" => {
                println!("{usage}");
                std::process::exit(0);
            }
            s if s.starts_with('-') => {
                if !extra(s, &mut args)? {
                    return Err(format!("unknown option {s}\n{usage}").into());
                }
            }
            s if out.is_none() => out = Some(PathBuf::from(s)),
            s => return Err(format!("unexpected argument {s}\n{usage}").into()),
        }
    }
    Ok(CommonArgs {
        out: out.ok_or(usage)?,
        cache,
        seed,
        quick,
    })
}
