use std::process::ExitCode;

use lockdown::cli::Command;
use lockdown::commands::{self, ExitStatus};
use lockdown::signal::Cancel;

fn main() -> ExitCode {
    // Parse before starting the runtime: a usage error costs nothing and exits 2.
    let cli = lockdown::cli::parse();
    lockdown::logging::init(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(ExitStatus::Failure.code());
        }
    };
    let result = runtime.block_on(async {
        let cancel = Cancel::default();
        cancel.install();
        match &cli.command {
            Command::Block(args) => commands::block::run(&cli.global, args, cancel).await,
            Command::Status(args) => commands::status::run(&cli.global, args, cancel).await,
            Command::Unblock(args) => commands::unblock::run(&cli.global, args, cancel).await,
            Command::Check(args) => commands::check::run(&cli.global, args, cancel).await,
            Command::Watch(args) => commands::watch::run(&cli.global, args, cancel).await,
            Command::Setup(args) => commands::setup::run(&cli.global, args).await,
            Command::Evidence(args) => commands::evidence::run(&cli.global, args, cancel).await,
            Command::Sandbox(args) => commands::sandbox::run(args, cancel).await,
            Command::Completions(args) => commands::shell::completions(args.shell),
            Command::Man => commands::shell::man(),
        }
    });
    let status = match result {
        Ok(status) => status,
        Err(fatal) => {
            eprintln!("{}", fatal.render());
            fatal.status
        }
    };
    // Don't wait for stray tasks (a hung connection) on the way out.
    runtime.shutdown_background();
    ExitCode::from(status.code())
}
