package maskservice

import "time"

// HostInfo are facts about the machine the daemon runs on, for the device status.
type HostInfo struct {
	Uptime       time.Duration // since the machine booted
	MemTotal     uint64        // bytes of RAM
	MemAvailable uint64        // bytes of RAM available to new work
	ProcessRSS   uint64        // bytes of RAM the daemon itself holds
}

// Host reports facts about the machine. Info reads them anew on every call and does not
// block for long (it reads /proc). Implementation: hal.Host.
type Host interface {
	Info() (HostInfo, error)
}
