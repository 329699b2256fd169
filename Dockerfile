# The runner image: `docker build -t REGISTRY/repairman-runner:0.1.0 .`, then point
# k8s/cronjob.yaml's image at it (docs/operator.md, "The image").
#
# Two stages: the wheel is built with the build tools, the final image gets only the
# installed package on a slim Python, runs as an unprivileged user with the uid the
# CronJob's securityContext asks for, and needs no writable root filesystem.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY policy/ policy/
COPY forecast/ forecast/
COPY runner/ runner/
COPY repairman/ repairman/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && groupadd --gid 65532 repairman \
    && useradd --uid 65532 --gid 65532 --no-create-home --shell /usr/sbin/nologin repairman
USER 65532:65532
ENTRYPOINT ["runner"]
CMD ["--until-stable", "--deadline", "45"]
