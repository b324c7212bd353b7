"""Local runner: deploys template.yaml's resources into the simulated AWS and runs the functions'
real binaries through an emulation of the Lambda Runtime API, the same code path as in Lambda."""
