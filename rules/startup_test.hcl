# startup: the agent started; the tail of its log is attached.
config = ["testdata/backup.hcl"]
rules  = ["startup"]

test "fires once at the first evaluation, with the log attached" {
  facts "0m" {
    check "product" {
      json = { version = "7.1", backup_ops = true }
    }
  }
  expect "1m" {
    fire    = ["startup"]
    subject = { startup = "appliance-b: Tocsin" }
    text    = { startup = "started on appliance-b (backup) at 2026-01-01T00:00:00Z" }
    attach  = { startup = ["/var/log/tocsin/agent.log"] }
  }
  # Five minutes after the start it resolves, without a mail, so that the
  # next start fires it again; it never repeats.
  expect "5m" {
    resolve = ["startup"]
  }
  expect "3d" {}
}
