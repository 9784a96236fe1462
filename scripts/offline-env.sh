# Sourced by scripts/lint-template.sh and scripts/checkov.sh: the template tools run offline.
# Dummy credentials and no config files (nothing can reach a real account), proxies pointing at a
# closed port, and `offline`: a command prefix that runs a tool in a new network namespace where the
# machine allows it (root, or a user namespace), empty otherwise.
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIAOFFLINELINT00000 AWS_SECRET_ACCESS_KEY=offline-lint-not-a-secret
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_CONTAINER_CREDENTIALS_FULL_URI \
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 \
    http_proxy=http://127.0.0.1:9 NO_PROXY='' no_proxy=''

offline=()
if command -v unshare >/dev/null 2>&1; then
    if unshare --net true 2>/dev/null; then
        offline=(unshare --net)
    elif unshare --net --map-root-user true 2>/dev/null; then
        offline=(unshare --net --map-root-user)
    fi
fi
