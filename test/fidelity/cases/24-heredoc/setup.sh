#!/bin/sh
# Context files only the BuildKit-equivalent Dockerfile uses (its frontend lacks heredocs).
printf 'hello from heredoc\n' > copied.txt
printf 'tab stripped\n' > tabs.txt
