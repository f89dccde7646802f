package library

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DescribeSchedule says in words how often a schedule spec comes, for a
// notice's text: "every day at 08:00", "every minute", "every Monday at
// 07:30 (Europe/Paris)". A spec it cannot put in words is quoted: "on the
// schedule \"0 */4 1-7 * *\"".
func DescribeSchedule(spec string) string {
	fallback := fmt.Sprintf("on the schedule %q", spec)
	fields := strings.Fields(spec)
	zone := ""
	if len(fields) > 0 {
		for _, p := range []string{"CRON_TZ=", "TZ="} {
			if z, ok := strings.CutPrefix(fields[0], p); ok {
				zone, fields = " ("+z+")", fields[1:]
				break
			}
		}
	}
	if len(fields) == 0 {
		return fallback
	}
	switch fields[0] {
	case "@yearly", "@annually":
		return "every year on 1 January at 00:00" + zone
	case "@monthly":
		return "every month on the 1st at 00:00" + zone
	case "@weekly":
		return "every Sunday at 00:00" + zone
	case "@daily", "@midnight":
		return "every day at 00:00" + zone
	case "@hourly":
		return "every hour"
	case "@every":
		if len(fields) != 2 {
			return fallback
		}
		d, err := time.ParseDuration(fields[1])
		if err != nil || d <= 0 {
			return fallback
		}
		return "every " + describeInterval(d)
	}
	if len(fields) == 6 { // a leading seconds field
		if fields[0] != "0" {
			return fallback
		}
		fields = fields[1:]
	}
	if len(fields) != 5 || fields[2] != "*" || fields[3] != "*" {
		return fallback
	}
	minute, err1 := strconv.Atoi(fields[0])
	if err1 != nil || minute < 0 || minute > 59 {
		return fallback
	}
	if fields[1] == "*" && fields[4] == "*" {
		return "every hour"
	}
	hour, err2 := strconv.Atoi(fields[1])
	if err2 != nil || hour < 0 || hour > 23 {
		return fallback
	}
	at := fmt.Sprintf(" at %02d:%02d", hour, minute) + zone
	if fields[4] == "*" {
		return "every day" + at
	}
	if dow, err := strconv.Atoi(fields[4]); err == nil && dow >= 0 && dow <= 7 {
		return "every " + time.Weekday(dow%7).String() + at
	}
	return fallback
}

// describeInterval puts d in words: "minute", "5 minutes", "90s".
func describeInterval(d time.Duration) string {
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d%u.d != 0 {
			continue
		}
		if n := d / u.d; n != 1 {
			return fmt.Sprintf("%d %ss", n, u.name)
		}
		return u.name
	}
	return d.String()
}
