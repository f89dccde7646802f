agent {
  node = file("no-such-file.txt")
}
