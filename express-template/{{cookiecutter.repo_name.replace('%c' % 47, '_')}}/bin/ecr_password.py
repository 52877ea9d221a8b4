"""Print a password for ``docker login`` to Amazon ECR (credentials and region from the AWS environment)."""
import base64

import boto3


def main() -> None:
    data = boto3.client("ecr").get_authorization_token()["authorizationData"][0]
    print(base64.b64decode(data["authorizationToken"]).decode().split(":", 1)[1])


if __name__ == "__main__":
    main()
