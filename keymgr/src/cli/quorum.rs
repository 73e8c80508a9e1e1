//! The custodians' quorum at the command line: share files and their passphrases, from files or
//! asked for at the terminal, one custodian after another.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use anyhow::{Context, bail};
use clap::Args;
use keymgr::ca::Home;
use keymgr::ceremony::QuorumSession;
use keymgr::shares::Unlock;

use super::Env;

#[derive(Args)]
pub(super) struct ShareArgs {
    /// A custodian's share file (repeat; prompted one by one when omitted).
    #[arg(long = "share")]
    pub(super) shares: Vec<PathBuf>,
    /// The passphrase file for the share at the same position.
    #[arg(long = "passphrase-file")]
    passphrase_files: Vec<PathBuf>,
    /// An age identity file for shares encrypted to a custodian's recipient.
    #[arg(long)]
    identity: Option<PathBuf>,
}

/// `keymgr unseal`: offline, checks the quorum; with `--url`, gives each share to a running
/// `keymgr serve` over HTTPS, one custodian at a time.
#[derive(Args)]
pub(super) struct UnsealArgs {
    #[command(flatten)]
    pub(super) shares: ShareArgs,
    /// A running `keymgr serve --api-listen`: https://HOST:PORT. Only the online keystore's
    /// share leaves the file; the root share is never sent.
    #[arg(long)]
    pub(super) url: Option<String>,
    /// The Root CA certificate (PEM) the API's certificate chains to (default: HOME's).
    #[arg(long, requires = "url")]
    pub(super) ca: Option<PathBuf>,
}

/// `keymgr unseal`: checks the quorum and every share, and does nothing with the keys.
pub(super) fn unseal_only(env: &Env, shares: &ShareArgs) -> anyhow::Result<()> {
    let session = unseal(&env.home, shares)?;
    if session.has_root() {
        println!("the keystores are unsealed: the quorum is present and every share checked out");
    } else {
        println!(
            "the online keystore is unsealed: the quorum is present and every share checked out \
             (the root keystore is not at {}: give --root-home to check it too)",
            env.home.root_keystore().display()
        );
    }
    Ok(())
}

/// Takes shares one at a time until the quorum is met.
pub(super) fn unseal(home: &Home, args: &ShareArgs) -> anyhow::Result<QuorumSession> {
    let mut session = QuorumSession::open(home)?;
    let threshold = session.state().quorum.threshold;
    let report = |who: &str, p: hsm_shim::UnsealProgress| {
        if p.unsealed {
            println!("share of {who} accepted: unsealed");
        } else {
            println!(
                "share of {who} accepted: {} more needed (of {threshold})",
                p.remaining()
            );
        }
    };
    if args.shares.is_empty() {
        if !std::io::stdin().is_terminal() {
            bail!("no share files given (--share) and no terminal to ask for them");
        }
        while !session.progress().unsealed {
            let line = read_tty_line("Next custodian: path to your share file (empty to stop): ")?;
            let path = PathBuf::from(line.trim());
            if line.trim().is_empty() {
                break;
            }
            let unlock = match &args.identity {
                Some(id) => Unlock::Identity(id.clone()),
                None => Unlock::Passphrase(prompt_secret("Passphrase: ")?),
            };
            match session.add(&path, &unlock) {
                Ok((who, p)) => report(&who, p),
                Err(e) => eprintln!("refused: {e}"),
            }
        }
    } else {
        for (i, path) in args.shares.iter().enumerate() {
            let unlock = unlock_for(args, i, path)?;
            let (who, p) = session.add(path, &unlock)?;
            report(&who, p);
        }
    }
    session.online()?;
    Ok(session)
}

/// What opens the share file at position `i`: its passphrase file, the identity, or a
/// passphrase asked for at the terminal.
pub(super) fn unlock_for(args: &ShareArgs, i: usize, path: &Path) -> anyhow::Result<Unlock> {
    Ok(match (args.passphrase_files.get(i), &args.identity) {
        (Some(f), _) => Unlock::Passphrase(passphrase_from(f)?),
        (None, Some(id)) => Unlock::Identity(id.clone()),
        (None, None) => Unlock::Passphrase(prompt_secret(&format!(
            "Passphrase for {}: ",
            path.display()
        ))?),
    })
}

/// The first line of a passphrase file.
pub(super) fn passphrase_from(path: &Path) -> anyhow::Result<SecretString> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        bail!("{} holds an empty passphrase", path.display());
    }
    Ok(SecretString::from(line.to_owned()))
}

/// One line from the terminal, read unbuffered so that the passphrase prompt that follows
/// finds its own line (custodians type one after the other at the same terminal).
fn read_tty_line(prompt: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .context("opening the terminal")?;
    tty.write_all(prompt.as_bytes())
        .context("writing the prompt")?;
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match tty.read(&mut byte).context("reading the terminal")? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    String::from_utf8(line).context("the path is not UTF-8")
}

pub(super) fn prompt_secret(prompt: &str) -> anyhow::Result<SecretString> {
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for a passphrase: give --passphrase-file");
    }
    Ok(SecretString::from(
        rpassword::prompt_password(prompt).context("reading the passphrase")?,
    ))
}
