"""Which of the blue/green production environments is live and which is idle.

``python bin/eb_bluegreen.py idle`` prints the idle environment's name, ``idle-cname`` its
host name, ``live`` the live one's name. The live environment holds the CNAME prefix
``{{ cookiecutter.subdomain }}`` (the rule ``ebi bgdeploy`` follows); ``ebi bgdeploy``
deploys to the other one. AWS credentials and region come from the environment
(``AWS_PROFILE=deploy`` in CircleCI).
"""
import sys

import boto3

APPLICATION = "{{ cookiecutter.eb_application }}"
ENVIRONMENTS = ("{{ cookiecutter.subdomain }}-blue", "{{ cookiecutter.subdomain }}-green")
LIVE_CNAME_PREFIX = "{{ cookiecutter.subdomain }}."


def main(what: str) -> str:
    envs = boto3.client("elasticbeanstalk").describe_environments(
        ApplicationName=APPLICATION, EnvironmentNames=list(ENVIRONMENTS), IncludeDeleted=False
    )["Environments"]
    live = [e for e in envs if e["CNAME"].startswith(LIVE_CNAME_PREFIX)]
    idle = [e for e in envs if not e["CNAME"].startswith(LIVE_CNAME_PREFIX)]
    if len(live) != 1 or len(idle) != 1:
        sys.exit(f"expected one live and one idle environment among {ENVIRONMENTS}, found {len(envs)}")
    answers = {"live": live[0]["EnvironmentName"], "idle": idle[0]["EnvironmentName"], "idle-cname": idle[0]["CNAME"]}
    return answers[what]


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("live", "idle", "idle-cname"):
        sys.exit("usage: eb_bluegreen.py live|idle|idle-cname")
    print(main(sys.argv[1]))
