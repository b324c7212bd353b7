# The two set-up commands of the README, and the deployment check CI runs after them.
.PHONY: demo test check-deploy

demo:
	./scripts/demo

test:
	./scripts/test

check-deploy:
	./scripts/check-deploy
