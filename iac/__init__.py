"""Deployment tooling for template.yaml (AWS SAM).

- ``python -m iac.package``: the Lambda deployment zip (``iac.package``);
- ``python -m iac.validate``: cfn-lint and the SAM translator, offline;
- ``python -m iac.resources``: the bucket and the table, with the template's
  settings (``iac.definitions``), on AWS, LocalStack or a moto server.
"""
