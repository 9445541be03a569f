fn main() {
    std::process::exit(lvsh::cli::main(std::env::args_os().skip(1).collect()));
}
