@main
struct TCPCraft {
  static func main() {}
}
