package rules

// The tests load IANA zones (Europe/Berlin) whether or not the machine has
// a zoneinfo database: embed Go's copy in the test binary.
import _ "time/tzdata"
