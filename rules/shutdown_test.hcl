# shutdown: the agent stops; the tail of its log is attached.
config = ["testdata/backup.hcl"]
rules  = ["shutdown"]

test "fires once, in the agent's last evaluation, with the log attached" {
  stop = "3d"
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
  }
  expect "2d23h59m" {}
  expect "3d" {
    fire    = ["shutdown"]
    subject = { shutdown = "appliance-b: Tocsin" }
    text    = { shutdown = "has been running since 2026-01-01T00:00:00Z" }
    attach  = { shutdown = ["/var/log/tocsin/agent.log"] }
  }
}
