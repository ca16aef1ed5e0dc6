echo ${HOME}
