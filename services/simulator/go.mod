module github.com/boontadata/boontadata/services/simulator

go 1.26.0

require github.com/boontadata/boontadata/pkg v0.0.0

replace github.com/boontadata/boontadata/pkg => ../../pkg
