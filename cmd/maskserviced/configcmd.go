package main

import (
	"flag"
	"fmt"
	"io"

	"mask.services/maskservice/cmd/internal/config"
)

// configCmd runs "config check --config FILE".
func configCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		return usageErrorf("want \"config check --config FILE\"")
	}
	fs := flag.NewFlagSet("config check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "", "configuration file to check")
	if err := fs.Parse(args[1:]); err != nil {
		return usageErrorf("%v", err)
	}
	if *path == "" {
		return usageErrorf("config check needs --config FILE")
	}
	c, err := config.Load(*path)
	if err != nil {
		return configError(err)
	}
	if err := checkKeyFile(c); err != nil {
		return err
	}
	_, panelErr := panelUID(c)
	// What serve checks of the file beyond Load (ParseFlags), by the same function.
	if _, err := parseLevel(c.Log.Level); err != nil {
		return configError(err)
	}
	fmt.Fprintf(stdout, "%s: ok (device %s, %d buses, %d sensors)\n", *path, c.DeviceID, len(c.Buses), len(c.Sensors))
	if panelErr != nil {
		fmt.Fprintf(stdout, "warning: %v\n", panelErr) // serve starts, and logs it as an error
	}
	return nil
}
