agent {
  node = "a"
}

agent {
  node = null
}

agent {
  node = "b"
}
