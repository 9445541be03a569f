fn main() {
    std::process::exit(lvsh::shell::main(std::env::args_os().skip(1).collect()));
}
