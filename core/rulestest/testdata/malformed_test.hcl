config = ["config.hcl"]

test "bad offsets and names" {
  start = "yesterday"
  facts "soon" {}
  facts "0m" {
    node = { versoin = "7.1" }
    check "partner" {
      ok = true
    }
    check "sync" {
      mtime = 3
      colour = "red"
    }
  }
  expect "10m" {
    fire = ["version_mismatsch"]
  }
}
